package io.moco4j.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LrScheduleTest {
    private static final JsonNode LR = Golden.json("optim/lr.json");

    private static List<Integer> ints(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        n.forEach(v -> out.add(v.asInt()));
        return out;
    }

    /** Every epoch's rate (read at step 0 and at the last step: per-epoch schedules are flat). */
    private static void assertPerEpoch(JsonNode expected, LrSchedule schedule, String what) {
        for (int e = 0; e < expected.size(); e++) {
            double want = expected.get(e).asDouble();
            assertEquals(want, schedule.lr(e, 0, 7), 1e-12 + 1e-9 * want, what + " epoch " + e);
            assertEquals(want, schedule.lr(e, 6, 7), 1e-12 + 1e-9 * want, what + " epoch " + e + " last step");
        }
    }

    @Test
    void stepScheduleMatchesMultiStepLrAndOfficialMoco() {
        JsonNode c = LR.get("multistep_moco");
        LrSchedule s = LrScheduleConfig.step(c.get("base").asDouble(), c.get("epochs").asInt(), ints(c.get("milestones"))).build();
        assertPerEpoch(c.get("lrs"), s, "MultiStepLR");
        assertPerEpoch(c.get("official"), s, "official adjust_learning_rate");
    }

    @Test
    void repeatedMilestonesCountTwiceLikeTorch() {
        JsonNode c = LR.get("multistep_small");
        LrSchedule s = new LrScheduleConfig("step", c.get("base").asDouble(), c.get("epochs").asInt(),
                ints(c.get("milestones")), c.get("gamma").asDouble(), 0, false, 0).build();
        assertPerEpoch(c.get("lrs"), s, "MultiStepLR [3,6,6,8] gamma 0.5");
    }

    @Test
    void cosineMatchesCosineAnnealingLrAndOfficialMoco() {
        JsonNode c = LR.get("cosine_moco");
        LrSchedule s = LrScheduleConfig.cosine(c.get("base").asDouble(), c.get("epochs").asInt()).build();
        assertPerEpoch(c.get("lrs"), s, "CosineAnnealingLR");
        assertPerEpoch(c.get("official"), s, "official --cos");
    }

    @Test
    void cosineFloorMatchesEtaMin() {
        JsonNode c = LR.get("cosine_floor");
        LrSchedule s = new LrScheduleConfig("cos", c.get("base").asDouble(), c.get("epochs").asInt(), null, 0.1, 0,
                false, c.get("min_lr").asDouble()).build();
        assertPerEpoch(c.get("lrs"), s, "CosineAnnealingLR eta_min");
    }

    @Test
    void perStepCosineUsesFractionalEpochs() {
        JsonNode c = LR.get("cosine_per_step");
        int spe = c.get("steps_per_epoch").asInt();
        LrSchedule s = new LrScheduleConfig("cosine", c.get("base").asDouble(), c.get("epochs").asInt(), null, 0.1, 0,
                true, 0).build();
        for (int i = 0; i < c.get("lrs").size(); i++) {
            assertEquals(c.get("lrs").get(i).asDouble(), s.lr(i / spe, i % spe, spe), 1e-12, "global step " + i);
        }
    }

    /** base 0.1, 2 warm-up epochs of 5 steps: 0.01, 0.02, ..., 0.10; then cosine over the other 8 epochs. */
    @Test
    void warmupRampsLinearlyPerStepThenStartsTheSchedule() {
        LrSchedule s = new LrScheduleConfig("cosine", 0.1, 10, null, 0.1, 2, false, 0).build();
        for (int g = 0; g < 10; g++) {
            assertEquals(0.01 * (g + 1), s.lr(g / 5, g % 5, 5), 1e-12, "warm-up step " + g);
        }
        assertEquals(0.1, s.lr(2, 0, 5), 1e-12, "cosine starts at the base rate");
        assertEquals(0.05, s.lr(6, 3, 5), 1e-12, "half-way through the 8 cosine epochs (epoch 2 + 4)");
        assertEquals(0.1 * 0.5 * (1 + Math.cos(Math.PI * 7 / 8)), s.lr(9, 0, 5), 1e-12, "last epoch");
    }

    @Test
    void warmupKeepsStepMilestonesCountedFromTheStart() {
        LrSchedule s = new LrScheduleConfig("step", 0.4, 10, List.of(4, 8), 0.1, 1, false, 0).build();
        assertEquals(0.1, s.lr(0, 0, 4), 1e-12); // 1/4 of the way through one warm-up epoch of 4 steps
        assertEquals(0.4, s.lr(0, 3, 4), 1e-12);
        assertEquals(0.4, s.lr(3, 3, 4), 1e-12);
        assertEquals(0.04, s.lr(4, 0, 4), 1e-12);
        assertEquals(0.004, s.lr(8, 0, 4), 1e-12);
    }

    @Test
    void stepFloorAndConstant() {
        LrSchedule s = new LrScheduleConfig("multistep", 1.0, 10, List.of(1, 2, 3), 0.1, 0, false, 0.005).build();
        assertEquals(0.01, s.lr(2, 0, 1), 1e-12);
        assertEquals(0.005, s.lr(3, 0, 1), 1e-12);
        LrSchedule c = new LrScheduleConfig("constant", 30, 100, null, 0.1, 0, false, 0).build();
        assertEquals(30, c.lr(99, 0, 1));
    }

    @Test
    void linearScaling() {
        assertEquals(0.03, LrSchedule.linearScaledLr(0.03, 256), 1e-15);
        assertEquals(0.06, LrSchedule.linearScaledLr(0.03, 512), 1e-15);
        assertEquals(0.0075, LrSchedule.linearScaledLr(0.03, 64), 1e-15);
    }

    @Test
    void badConfigurationsAreOneLineUserErrors() {
        List<Runnable> bad = List.of(
                () -> new LrScheduleConfig("linear", 0.1, 10, null, 0.1, 0, false, 0).build(),
                () -> new LrScheduleConfig("cosine", 0, 10, null, 0.1, 0, false, 0).build(),
                () -> new LrScheduleConfig("cosine", 0.1, 0, null, 0.1, 0, false, 0).build(),
                () -> new LrScheduleConfig("cosine", 0.1, 10, null, 0.1, 10, false, 0).build(),
                () -> new LrScheduleConfig("cosine", 0.1, 10, null, 0.1, 0, false, 0.2).build(),
                () -> new LrScheduleConfig("step", 0.1, 10, List.of(5), 0, 0, false, 0).build(),
                () -> new LrScheduleConfig("step", 0.1, 10, List.of(1, 5), 0.1, 2, false, 0).build());
        for (Runnable r : bad) {
            UserException e = assertThrows(UserException.class, r::run);
            assertTrue(!e.getMessage().contains("\n") && e.getMessage().contains(";"), e.getMessage());
        }
    }
}
