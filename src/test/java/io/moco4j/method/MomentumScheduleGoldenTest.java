package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import org.junit.jupiter.api.Test;

/** {@link MomentumSchedule} against moco-v3's adjust_moco_momentum (golden/moco_v3/schedules.json). */
class MomentumScheduleGoldenTest {
    private final JsonNode golden = Golden.json("moco_v3/schedules.json");

    @Test
    void cosineMatchesAdjustMocoMomentum() {
        int checked = 0;
        for (JsonNode c : golden.get("momentum")) {
            int iters = c.get("iters_per_epoch").asInt();
            MomentumSchedule s = MomentumSchedule.cosine(c.get("moco_m").asDouble(), c.get("epochs").asInt());
            for (JsonNode v : c.get("values")) {
                // m is close to 1: compare 1 - m, where an error in the schedule would show
                double expected = 1 - v.get(2).asDouble();
                double actual = 1 - s.at(v.get(0).asInt(), v.get(1).asInt(), iters);
                assertEquals(expected, actual, 1e-12 * Math.abs(expected) + 1e-16, c.get("moco_m") + " at " + v);
                checked++;
            }
        }
        assertTrue(checked > 500, "too few golden values: " + checked);
    }

    @Test
    void constantIsConstantAndBadValuesAreRejected() {
        MomentumSchedule s = MomentumSchedule.constant(0.999);
        assertEquals(0.999, s.at(0, 0, 10));
        assertEquals(0.999, s.at(199, 9, 10));
        assertThrows(IllegalArgumentException.class, () -> MomentumSchedule.constant(1.5));
        assertThrows(IllegalArgumentException.class, () -> MomentumSchedule.cosine(0.99, 0));
        assertThrows(IllegalArgumentException.class, () -> MomentumSchedule.cosine(0.99, 10).at(0, 10, 10));
    }
}
