package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.method.MomentumSchedule;
import io.moco4j.optim.LrSchedule;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.Test;

/** The time budget against a fake clock: the plan, re-planning when steps slow down, the schedule's end. */
class TimeBudgetTest {
    static final long SECOND = 1_000_000_000L;

    /** A clock the test moves by hand. */
    static final class FakeClock {
        long now;

        void advance(double seconds) {
            now += Math.round(seconds * SECOND);
        }
    }

    /** A budget of {@code seconds} over epochs of {@code steps}, schedule of {@code epochs}, no kNN, started at 0. */
    static TimeBudget budget(FakeClock clock, double seconds, int steps, int epochs, int knnEvery, int knnImages) {
        return new TimeBudget("test", seconds, 0, () -> clock.now, 0, steps, 10, epochs, knnEvery, knnImages, 0, 0, -1, 0, -1);
    }

    /** What a run does with the budget: steps of the given duration, epoch ends of the given overhead. */
    record Run(List<String> messages, long steps, double endSeconds, List<Double> lrs, List<Double> momenta,
               List<Long> totals) {}

    static Run drive(TimeBudget b, FakeClock clock, int stepsPerEpoch, LongUnaryOperator stepMillis, double epochEndSeconds,
                     int knnEvery, double knnSeconds, LrSchedule lr, MomentumSchedule m) {
        List<String> messages = new ArrayList<>();
        List<Double> lrs = new ArrayList<>();
        List<Double> momenta = new ArrayList<>();
        List<Long> totals = new ArrayList<>();
        long g = 0;
        for (int epoch = 0; epoch < b.plannedEpochs(); epoch++) {
            for (int step = 0; step < stepsPerEpoch; step++) {
                int[] at = b.schedulePosition(g);
                lrs.add(lr.lr(at[0], at[1], stepsPerEpoch));
                momenta.add(m.at(at[0], at[1], stepsPerEpoch));
                clock.advance(stepMillis.applyAsLong(g) / 1000.0);
                g++;
                b.stepDone(g).ifPresent(messages::add);
                if (b.finished(g)) {
                    break;
                }
            }
            boolean last = epoch + 1 >= b.plannedEpochs();
            boolean knn = knnEvery > 0 && ((epoch + 1) % knnEvery == 0 || last);
            clock.advance(epochEndSeconds + (knn ? knnSeconds : 0));
            b.epochDone(g, knn).ifPresent(messages::add);
            if (totals.isEmpty() || totals.get(totals.size() - 1) != b.totalSteps()) {
                totals.add(b.totalSteps());
            }
        }
        return new Run(messages, g, b.elapsedSeconds(), lrs, momenta, totals);
    }

    @Test
    void plansTheStepsTheBudgetHoldsAfterTimingTheFirstSteps() {
        FakeClock clock = new FakeClock();
        TimeBudget b = budget(clock, 1000, 100, 15, 0, 0);
        assertEquals(1500, b.totalSteps(), "before timing anything the configured 15 x 100 steps stand");
        Optional<String> plan = Optional.empty();
        for (int g = 1; g <= 9; g++) {
            clock.advance(1.0);
            plan = b.stepDone(g);
            if (g < 9) {
                assertTrue(plan.isEmpty(), "no plan before " + TimeBudget.CALIBRATION + " timed steps (step " + g + ")");
            }
        }
        // After 9 s (the first step is not timed: 8 intervals of 1 s), 1000 s - 10 s reserve (1%) - 9 s = 981 s are
        // left. n more steps cost n x 1 s + 0.5 s (the guessed epoch-end overhead before one was timed) per epoch
        // end they reach: n + 0.5 ceil((9 + n) / 100) <= 981 holds for n = 976 (976 + 5) but not 977 (977 + 5).
        assertTrue(plan.isPresent() && plan.get().contains("985 steps"), plan.toString());
        assertEquals(985, b.totalSteps());
        assertEquals(10, b.plannedEpochs());
    }

    @Test
    void aSteadyRunEndsJustInsideItsBudgetWithEvaluationsCounted() {
        FakeClock clock = new FakeClock();
        int steps = 50;
        TimeBudget b = budget(clock, 600, steps, 20, 2, 2000);
        // 0.2 s steps, 1 s checkpoints, 6 s kNN runs every second epoch: the kNN cost is learnt at the first one
        Run run = drive(b, clock, steps, g -> 200, 1.0, 2, 6.0, LrSchedule.cosine(0.06, 20, true, 0),
                MomentumSchedule.cosine(0.99, 20));
        assertTrue(run.endSeconds() <= 600, "ends inside the budget: " + run.endSeconds());
        // The smallest thing that can be added past an epoch boundary is a step with an epoch end and a kNN run
        // (0.2 + 1 + 6 s): the run ends within that and the 6 s reserve (1%) of the budget.
        assertTrue(run.endSeconds() >= 600 - 6 - 7.2, "ends close to the budget: " + run.endSeconds() + " " + run.messages());
        // and the plan settles instead of flipping between two ends at every epoch (plan totals seen at epoch ends)
        assertTrue(run.totals().size() <= 4, "plan totals at epoch ends: " + run.totals());
        assertEquals(b.totalSteps(), run.steps(), "the run ends exactly at the plan's last step");
    }

    @Test
    void aRunThatSlowsDownReplansAndStillEndsItsScheduleInsideTheBudget() {
        FakeClock clock = new FakeClock();
        int steps = 40;
        TimeBudget b = budget(clock, 900, steps, 30, 0, 0);
        long[] firstPlan = {-1};
        // 0.25 s steps, then from step 800 on a busier machine makes them 0.5 s
        Run run = drive(b, clock, steps, g -> {
            if (g == 20 && firstPlan[0] < 0) {
                firstPlan[0] = b.totalSteps();
            }
            return g < 800 ? 250 : 500;
        }, 0.5, 0, 0, LrSchedule.cosine(0.06, 30, true, 0), MomentumSchedule.cosine(0.99, 30));
        assertTrue(run.messages().stream().anyMatch(s -> s.startsWith("Behind plan")), run.messages().toString());
        assertTrue(b.totalSteps() < firstPlan[0], "re-planned shorter: " + b.totalSteps() + " < " + firstPlan[0]);
        assertEquals(b.totalSteps(), run.steps(), "the run goes on to the re-planned end instead of stopping halfway");
        assertTrue(run.endSeconds() <= 900, "inside the budget: " + run.endSeconds());
        assertTrue(run.endSeconds() >= 900 - 9 - 1, "and within its 9 s reserve and two steps of it: " + run.endSeconds());

        // The schedule: never jumps up (the cosine falls step by step through the re-plan) and reaches its end at
        // the last step. A per-step cosine from 0.06 over T steps has lr = 0.06 x 0.5 (1 + cos(pi (T-1)/T)) at its
        // last step, 0.06 x 2.5e-6 x (pi/T)^2/2.5e-6 ~ 1.5e-7 for T ~ 2000: below 1e-5 x base anyway.
        List<Double> lrs = run.lrs();
        for (int i = 1; i < lrs.size(); i++) {
            assertTrue(lrs.get(i) <= lrs.get(i - 1) + 1e-15, "lr rose at step " + i + ": " + lrs.get(i - 1) + " -> " + lrs.get(i));
        }
        assertTrue(lrs.get(lrs.size() - 1) < 1e-5 * 0.06, "lr at the last step: " + lrs.get(lrs.size() - 1));
        int[] last = b.schedulePosition(run.steps() - 1);
        assertEquals(29, last[0], "the last step reads the schedule's last epoch");
        assertEquals(steps - 1, last[1], "and its last step");
        // so lr and momentum end where an unbudgeted 30-epoch run ends: the same values, not merely close ones
        List<Double> ms = run.momenta();
        assertEquals(MomentumSchedule.cosine(0.99, 30).at(29, steps - 1, steps), ms.get(ms.size() - 1));
        assertEquals(LrSchedule.cosine(0.06, 30, true, 0).lr(29, steps - 1, steps), lrs.get(lrs.size() - 1));
    }

    @Test
    void aRunThatSpeedsUpUsesTheTimeItGains() {
        FakeClock clock = new FakeClock();
        TimeBudget b = budget(clock, 600, 50, 10, 0, 0);
        long[] firstPlan = {-1};
        Run run = drive(b, clock, 50, g -> {
            if (g == 20 && firstPlan[0] < 0) {
                firstPlan[0] = b.totalSteps();
            }
            return g < 300 ? 400 : 200;
        }, 0.2, 0, 0, LrSchedule.cosine(0.06, 10, true, 0), MomentumSchedule.constant(0.99));
        assertTrue(run.messages().stream().anyMatch(s -> s.startsWith("Ahead of plan")), run.messages().toString());
        assertTrue(b.totalSteps() > firstPlan[0]);
        assertTrue(run.endSeconds() <= 600 && run.endSeconds() >= 600 - 6 - 1, "" + run.endSeconds());
    }

    @Test
    void progressIsContinuousAcrossARePlanAndReachesTheEndAtTheLastStep() {
        FakeClock clock = new FakeClock();
        // resumed state: the plan started at step 100 with 10% of the schedule done and ends at 1000
        TimeBudget b = new TimeBudget("t", 500, 100, () -> clock.now, 0, 20, 10, 50, 0, 0, 0, 300, 100, 0.1, 1000);
        assertEquals(0.1 + 200 * 0.9 / 900, b.progress(300), 1e-12);
        assertEquals(1.0, b.progress(1000), 1e-12);
        assertFalse(b.finished(999));
        assertTrue(b.finished(1000));
        // a resumed budget counts what earlier sessions spent
        clock.advance(5);
        assertEquals(105, b.elapsedSeconds(), 1e-9);
        TimeBudget.State s = b.state(300);
        assertEquals(1000, s.totalSteps());
        assertEquals(105, s.usedSeconds(), 1e-9);
    }
}
