package io.moco4j.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import org.junit.jupiter.api.Test;

/**
 * moco-v3's learning rates (tools/golden/moco_v3.py, golden/moco_v3/schedules.json): main_moco.py's
 * {@code adjust_learning_rate} against {@link WarmupCosineLr}, main_lincls.py's against {@link CosineLr} per epoch.
 */
class WarmupCosineLrGoldenTest {
    /** The formulas are evaluated in the same order as in Python; only cos may differ in its last bit. */
    private static final double REL = 1e-14;
    private final JsonNode golden = Golden.json("moco_v3/schedules.json");

    @Test
    void matchesAdjustLearningRateOfMainMoco() {
        int checked = 0;
        for (JsonNode c : golden.get("lr")) {
            int iters = c.get("iters_per_epoch").asInt();
            LrSchedule s = LrSchedule.warmupCosine(c.get("lr").asDouble(), c.get("warmup_epochs").asInt(),
                    c.get("epochs").asInt());
            for (JsonNode v : c.get("values")) {
                double expected = v.get(2).asDouble();
                double actual = s.lr(v.get(0).asInt(), v.get(1).asInt(), iters);
                assertEquals(expected, actual, REL * Math.abs(expected) + 1e-300, c.toString().substring(0, 60) + " at " + v);
                checked++;
            }
        }
        assertTrue(checked > 500, "too few golden values: " + checked);
    }

    @Test
    void warmupStartsAtZeroUnlikeLinearWarmupLr() {
        LrSchedule v3 = LrSchedule.warmupCosine(2.4, 10, 100);
        assertEquals(0.0, v3.lr(0, 0, 50));
        LrSchedule other = LrSchedule.cosine(2.4, 90, true, 0).afterWarmup(10);
        assertTrue(other.lr(0, 0, 50) > 0, "LinearWarmupLr is (g + 1) / W: it would fail the golden's first value");
    }

    @Test
    void matchesTheLinearProbeScheduleOfMainLincls() {
        for (JsonNode c : golden.get("lincls_lr")) {
            LrSchedule s = LrSchedule.cosine(c.get("init_lr").asDouble(), c.get("epochs").asInt(), false, 0);
            for (JsonNode v : c.get("values")) {
                double expected = v.get(1).asDouble();
                // per epoch: the step inside the epoch does not matter
                assertEquals(expected, s.lr(v.get(0).asInt(), 3, 7), REL * Math.abs(expected) + 1e-300, "epoch " + v);
            }
        }
    }

    @Test
    void rejectsMeaninglessSettings() {
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineLr(1, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineLr(1, -1, 10));
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineLr(-1, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> new WarmupCosineLr(1, 0, 10).lr(0, 5, 5));
    }
}
