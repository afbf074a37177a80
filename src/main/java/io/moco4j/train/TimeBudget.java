package io.moco4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.config.Durations;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.AtomicFiles;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * Fits a run into a wall-clock budget ({@code --time-budget 30m}): measures the first steps, plans how many steps
 * the budget holds (evaluations and checkpoints included), and re-plans whenever the run drifts from its plan (a
 * busier machine), so the schedule always completes instead of stopping halfway.
 *
 * <p><b>The schedule.</b> The configured schedule ({@code train.epochs} epochs of warm-up, cosine, step decay,
 * momentum cosine) is kept as a shape and the run moves through it at the planned pace: global step g maps to the
 * fraction {@code v(g) = v0 + (g - g0) (1 - v0) / (T - g0)} of the schedule, where (g0, v0) is where the current
 * plan started and T its total steps. {@link #schedulePosition} turns v into the (epoch, step) at which the
 * unchanged lr and momentum schedules are read. A re-plan changes only T (and anchors at the current step), so
 * the rate is continuous, every phase keeps its share of the run, and lr and momentum reach their final values at
 * the last step (v = (T - 1) / T there, exactly as an unbudgeted run's last step). Re-deriving the cosine for a
 * new epoch count instead would jump the rate at each re-plan.
 *
 * <p><b>The plan.</b> Cost of n more steps = n x (mean of the last {@value #WINDOW} step times, data loading and
 * the online probe included) + one epoch-end overhead per epoch end (checkpoint, probe evaluation; measured) + one
 * kNN evaluation per due epoch (measured once one ran; before that guessed from the images it scores) + a
 * reserve for shutting down. The last epoch may be partial: the run ends at step T, mid-epoch if need be,
 * with the last epoch's evaluation and checkpoint. After the first {@value #CALIBRATION} timed steps the plan is
 * made; from then on (at most every {@value #REPLAN_GAP} steps) the remaining steps are re-planned whenever the plan
 * would overrun the budget by more than half a step (shorter) or one more step would fit (longer), so the run ends
 * within about a step of the budget; re-plans of 2% or more are announced.
 *
 * <p>All times come from an injected nanosecond clock, so tests drive it with a fake one.
 */
public final class TimeBudget {
    static final int CALIBRATION = 8;
    static final int WINDOW = 40;
    /** Re-plans at most every so many steps, so one slow step does not move the plan. */
    static final int REPLAN_GAP = 5;
    /** Evaluation cost of one batch of images relative to one training step, until an evaluation was timed. */
    static final double EVAL_BATCH_PER_STEP = 0.35;

    /** What a run directory records to continue the budget after --resume. */
    public record State(String budgetText, double budgetSeconds, double usedSeconds, long globalStep, long anchorStep,
                        double anchorProgress, long totalSteps) {}

    /** The run directory's record of the budget, rewritten with every checkpoint. */
    public static final String FILE = "time_budget.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String budgetText;
    private final double budgetSeconds;
    private final double usedBefore;
    private final LongSupplier nanos;
    private final long sessionStart;
    private final int stepsPerEpoch;
    private final int batchSize;
    private final int scheduleEpochs;
    private final int knnEvery;
    private final int knnImages;
    private final int everyEpochImages;

    private long anchorStep;
    private double anchorProgress;
    private long totalSteps;
    private boolean planned;
    private long lastReplanStep;
    private long announcedSteps;
    /** The last step of an epoch is done but its end (evaluation, checkpoint) is not. */
    private boolean epochEndPending;

    private final double[] recent = new double[WINDOW];
    private int timed;
    private long lastMark = Long.MIN_VALUE;
    private double epochEndSeconds = Double.NaN;
    private double knnSeconds = Double.NaN;

    /**
     * @param budgetText       the budget as the user wrote it (for messages and the record)
     * @param budgetSeconds    the whole run's budget, earlier sessions included
     * @param usedSeconds      wall seconds earlier sessions spent (0 for a new run)
     * @param nanos            the clock
     * @param sessionStart     {@code nanos} at the start of this session (the JVM's start, so set-up counts)
     * @param stepsPerEpoch    batches per epoch
     * @param batchSize        images per step (for evaluation guesses)
     * @param scheduleEpochs   {@code train.epochs}: the length the lr and momentum schedules are defined over
     * @param knnEvery         kNN monitor period in epochs, 0 when it is off
     * @param knnImages        images a kNN evaluation embeds (bank + queries)
     * @param everyEpochImages images embedded at every epoch end (the online probe's validation set), 0 for none
     * @param globalStep       steps already done
     * @param anchorStep       start of the current plan (resume), or -1 to start from the configured schedule
     * @param anchorProgress   schedule fraction at {@code anchorStep}
     * @param totalSteps       the current plan's end (resume), or -1
     */
    public TimeBudget(String budgetText, double budgetSeconds, double usedSeconds, LongSupplier nanos, long sessionStart,
                      int stepsPerEpoch, int batchSize, int scheduleEpochs, int knnEvery, int knnImages,
                      int everyEpochImages, long globalStep, long anchorStep, double anchorProgress, long totalSteps) {
        if (stepsPerEpoch < 1 || scheduleEpochs < 1) {
            throw new IllegalArgumentException("stepsPerEpoch and scheduleEpochs must be >= 1");
        }
        this.budgetText = budgetText;
        this.budgetSeconds = budgetSeconds;
        this.usedBefore = usedSeconds;
        this.nanos = nanos;
        this.sessionStart = sessionStart;
        this.stepsPerEpoch = stepsPerEpoch;
        this.batchSize = batchSize;
        this.scheduleEpochs = scheduleEpochs;
        this.knnEvery = knnEvery;
        this.knnImages = knnImages;
        this.everyEpochImages = everyEpochImages;
        long configured = (long) scheduleEpochs * stepsPerEpoch;
        if (anchorStep >= 0 && totalSteps > anchorStep && globalStep < totalSteps) {
            this.anchorStep = anchorStep;
            this.anchorProgress = anchorProgress;
            this.totalSteps = totalSteps;
        } else {
            // until the first plan: the configured schedule as it stands (or, resuming a run without a budget, where
            // it stood)
            this.anchorStep = 0;
            this.anchorProgress = 0;
            this.totalSteps = Math.max(configured, globalStep + 1);
        }
        this.lastReplanStep = globalStep;
    }

    /** Seconds of the budget spent so far, earlier sessions included. */
    public double elapsedSeconds() {
        return usedBefore + (nanos.getAsLong() - sessionStart) / 1e9;
    }

    public double budgetSeconds() {
        return budgetSeconds;
    }

    /** Steps of the whole run under the current plan. */
    public long totalSteps() {
        return totalSteps;
    }

    /** Epochs the current plan touches (the last may be partial). */
    public int plannedEpochs() {
        return (int) ((totalSteps + stepsPerEpoch - 1) / stepsPerEpoch);
    }

    /** Whether global step {@code g} (0-based) lies past the plan's end. */
    public boolean finished(long g) {
        return g >= totalSteps;
    }

    /** Fraction of the configured schedule reached at global step {@code g}. */
    public double progress(long g) {
        return anchorProgress + (g - anchorStep) * (1 - anchorProgress) / (double) (totalSteps - anchorStep);
    }

    /**
     * The (epoch, step in epoch) of the configured {@code scheduleEpochs x stepsPerEpoch} schedule at which step
     * {@code g}'s lr and momentum are read.
     */
    public int[] schedulePosition(long g) {
        double e = Math.max(0, progress(g)) * scheduleEpochs;
        int epoch = (int) Math.min(scheduleEpochs - 1, Math.floor(e));
        int step = (int) Math.min(stepsPerEpoch - 1, Math.max(0, Math.floor((e - epoch) * stepsPerEpoch + 1e-9)));
        return new int[] {epoch, step};
    }

    /** A step finished; {@code stepsDone} is the global count after it. Returns a line when the plan was (re)made. */
    public Optional<String> stepDone(long stepsDone) {
        long now = nanos.getAsLong();
        if (lastMark != Long.MIN_VALUE) {
            recent[timed % WINDOW] = (now - lastMark) / 1e9;
            timed++;
        }
        lastMark = now;
        epochEndPending = stepsDone % stepsPerEpoch == 0 || stepsDone >= totalSteps;
        if (timed < Math.min(CALIBRATION, Math.max(1, totalSteps - stepsDone - 1))) {
            return Optional.empty();
        }
        if (!planned) {
            planned = true;
            double before = stepSeconds();
            replan(stepsDone);
            announcedSteps = totalSteps;
            return Optional.of(String.format(Locale.ROOT, "Time budget %s (%s left): %.3f s a step measured over %d steps;"
                            + " plan: %d steps = %.1f epochs of %d, the %d-epoch schedule (warm-up, decay, momentum) shrunk"
                            + " to fit, evaluations and checkpoints included; ends in about %s",
                    budgetText, Durations.format(budgetSeconds - elapsedSeconds()), before, timed, totalSteps,
                    totalSteps / (double) stepsPerEpoch, stepsPerEpoch, scheduleEpochs, Durations.format(predictedEnd(stepsDone) - elapsedSeconds())));
        }
        return driftCheck(stepsDone);
    }

    /**
     * An epoch ended (evaluations and checkpoint done): its overhead since the last step is recorded and the plan
     * checked. {@code knnRan}: whether the kNN monitor ran at this epoch end.
     */
    public Optional<String> epochDone(long stepsDone, boolean knnRan) {
        long now = nanos.getAsLong();
        if (lastMark != Long.MIN_VALUE) {
            double overhead = (now - lastMark) / 1e9;
            if (knnRan) {
                double base = Double.isNaN(epochEndSeconds) ? 0 : epochEndSeconds;
                knnSeconds = Math.max(0, overhead - base);
            } else {
                epochEndSeconds = Double.isNaN(epochEndSeconds) ? overhead : 0.5 * (epochEndSeconds + overhead);
            }
        }
        lastMark = now; // the overhead is not a step's time
        epochEndPending = false;
        return planned ? driftCheck(stepsDone) : Optional.empty();
    }

    /** What a checkpoint needs to continue the budget after --resume, as of {@code stepsDone} steps. */
    public State state(long stepsDone) {
        return new State(budgetText, budgetSeconds, elapsedSeconds(), stepsDone, anchorStep, anchorProgress, totalSteps);
    }

    /**
     * Re-plans when the plan no longer fits (its predicted end is more than half a step past the budget) or when at
     * least one more step would fit; says so when the plan moved by 2% or more since it was last announced.
     */
    private Optional<String> driftCheck(long stepsDone) {
        if (stepsDone >= totalSteps || stepsDone - lastReplanStep < REPLAN_GAP) {
            return Optional.empty();
        }
        double available = budgetSeconds - reserve() - elapsedSeconds();
        long current = totalSteps - stepsDone;
        long best = bestSteps(stepsDone, available);
        boolean behind = best < current && cost(stepsDone, current) > available + 0.5 * stepSeconds();
        boolean ahead = best > current;
        if (!behind && !ahead) {
            return Optional.empty();
        }
        double end = predictedEnd(stepsDone);
        replan(stepsDone);
        if (Math.abs(totalSteps - announcedSteps) < Math.max(1, 0.02 * announcedSteps)) {
            return Optional.empty(); // small corrections go unannounced
        }
        long before = announcedSteps;
        announcedSteps = totalSteps;
        return Optional.of(String.format(Locale.ROOT, "%s plan (predicted end %s of %s, steps now %.3f s): re-planned to %d"
                        + " steps = %.1f epochs (was %d); the schedule is re-spread over the rest and still ends at the last step",
                behind ? "Behind" : "Ahead of", Durations.format(end), budgetText, stepSeconds(), totalSteps,
                totalSteps / (double) stepsPerEpoch, before));
    }

    /** The most steps after {@code stepsDone} whose cost fits {@code available} seconds; at least one. */
    private long bestSteps(long stepsDone, double available) {
        long hi = Math.max(1, (long) (available / stepSeconds()) + 1);
        long lo = 1;
        while (lo < hi) { // cost grows with n
            long mid = (lo + hi + 1) >>> 1;
            if (cost(stepsDone, mid) <= available) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }

    /** Sets the plan's end to the most steps that fit the remaining budget, anchored at the current step. */
    private void replan(long stepsDone) {
        long lo = bestSteps(stepsDone, budgetSeconds - reserve() - elapsedSeconds());
        double p = progress(stepsDone);
        anchorStep = stepsDone;
        anchorProgress = p;
        totalSteps = stepsDone + lo;
        lastReplanStep = stepsDone;
    }

    /** Predicted budget seconds spent at the end of the current plan. */
    private double predictedEnd(long stepsDone) {
        return elapsedSeconds() + cost(stepsDone, totalSteps - stepsDone);
    }

    /** Seconds for {@code n} more steps after {@code stepsDone}, with the epoch ends and evaluations they cross. */
    double cost(long stepsDone, long n) {
        long end = stepsDone + n;
        // the epoch whose end comes next: the one just finished when its end is still pending
        long firstEpoch = (epochEndPending ? stepsDone - 1 : stepsDone) / stepsPerEpoch;
        long lastEpoch = (end - 1) / stepsPerEpoch;
        long ends = Math.max(0, lastEpoch - firstEpoch + 1);
        long knnRuns = 0;
        if (knnEvery > 0 && ends > 0) {
            knnRuns = (lastEpoch + 1) / knnEvery - firstEpoch / knnEvery; // multiples of knnEvery among epoch numbers
            if ((lastEpoch + 1) % knnEvery != 0) {
                knnRuns++; // the last epoch always evaluates
            }
        }
        return n * stepSeconds() + ends * epochEnd() + knnRuns * knn();
    }

    private double stepSeconds() {
        int k = Math.min(timed, WINDOW);
        if (k == 0) {
            return 1;
        }
        double s = 0;
        for (int i = 0; i < k; i++) {
            s += recent[i];
        }
        return Math.max(1e-6, s / k);
    }

    private double epochEnd() {
        return Double.isNaN(epochEndSeconds)
                ? 0.5 + Math.ceil(everyEpochImages / (double) batchSize) * EVAL_BATCH_PER_STEP * stepSeconds()
                : epochEndSeconds;
    }

    private double knn() {
        return Double.isNaN(knnSeconds) ? Math.ceil(knnImages / (double) batchSize) * EVAL_BATCH_PER_STEP * stepSeconds() : knnSeconds;
    }

    /** Kept free at the end for shutting down (final messages, closing, the JVM's exit): 1%, 2..20 s. */
    private double reserve() {
        return Math.min(20, Math.max(2, 0.01 * budgetSeconds));
    }

    /**
     * The budget of a run with {@code train.time_budget} set, or null. A new run starts its budget at the JVM's start
     * (set-up counts); a resumed one continues the budget left in {@value #FILE} when the budget is the one recorded,
     * and treats a changed {@code --time-budget} as the budget for the rest of the run.
     */
    static TimeBudget forRun(MocoConfig cfg, RunDirectory dir, boolean resume, TrainingProgress start, int stepsPerEpoch,
                             int knnImages, int everyEpochImages) throws IOException {
        String text = cfg.train().timeBudget();
        if (text.isBlank()) {
            return null;
        }
        double seconds = Durations.parseSeconds(text, "--time-budget");
        long sessionStart = System.nanoTime() - ManagementFactory.getRuntimeMXBean().getUptime() * 1_000_000L;
        State saved = resume ? readState(dir).orElse(null) : null;
        int knnEvery = knnImages > 0 ? cfg.train().knnEvery() : 0;
        if (saved != null && saved.budgetText().equals(text)) {
            return new TimeBudget(text, saved.budgetSeconds(), saved.usedSeconds(), System::nanoTime, sessionStart, stepsPerEpoch,
                    cfg.train().batchSize(), cfg.train().epochs(), knnEvery, knnImages, everyEpochImages, start.globalStep(),
                    saved.anchorStep(), saved.anchorProgress(), saved.totalSteps());
        }
        double used = saved == null ? 0 : saved.usedSeconds();
        long anchor = saved == null ? (resume ? 0 : -1) : saved.anchorStep();
        double progress = saved == null ? 0 : saved.anchorProgress();
        long total = saved == null ? (resume ? (long) cfg.train().epochs() * stepsPerEpoch : -1) : saved.totalSteps();
        return new TimeBudget(text, used + seconds, used, System::nanoTime, sessionStart, stepsPerEpoch, cfg.train().batchSize(),
                cfg.train().epochs(), knnEvery, knnImages, everyEpochImages, start.globalStep(), anchor, progress, total);
    }

    static java.util.Optional<State> readState(RunDirectory dir) {
        Path file = dir.root().resolve(FILE);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(Files.readString(file, StandardCharsets.UTF_8), State.class));
        } catch (IOException e) {
            return Optional.empty(); // a damaged record: the budget starts over for the rest of the run
        }
    }

    static void writeState(RunDirectory dir, State state) throws IOException {
        byte[] bytes = JSON.writeValueAsBytes(state);
        AtomicFiles.write(dir.root().resolve(FILE), out -> out.write(bytes));
    }
}
