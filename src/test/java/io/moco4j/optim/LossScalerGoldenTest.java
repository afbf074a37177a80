package io.moco4j.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import io.moco4j.util.Gradients;
import io.moco4j.util.UserException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link LossScaler} against torch.cuda.amp.GradScaler (tools/golden/scaler.py, golden/scaler/*.json): the same
 * training loop (loss = sum(w * x_t), SGD lr 1/8, overflows forced with x = 1e36, NaN steps) gives the same scale,
 * growth tracker, skip decisions, unscaled gradients and weights at every recorded step, and the same state dict.
 * Exact comparisons: inputs are multiples of 1/4 and scales powers of two, so every value is exact in float32 on
 * both sides (a rounding difference would be a real difference).
 */
class LossScalerGoldenTest {

    @ParameterizedTest
    @ValueSource(strings = {"default", "short_interval"})
    void sequenceMatchesGradScaler(String name) {
        JsonNode g = Golden.json("scaler/" + name + ".json");
        JsonNode ctor = g.get("ctor");
        LossScaler scaler = ctor.isEmpty() ? new LossScaler()
                : new LossScaler(ctor.get("init_scale").asDouble(), ctor.get("growth_factor").asDouble(),
                        ctor.get("backoff_factor").asDouble(), ctor.get("growth_interval").asInt());
        Set<Integer> overflow = ints(g.get("overflow_steps"));
        Set<Integer> nan = ints(g.get("nan_steps"));
        Map<Integer, JsonNode> records = new HashMap<>();
        g.get("records").forEach(r -> records.put(r.get("step").asInt(), r));
        float lr = (float) g.get("lr").asDouble();
        int skipped = 0;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.create(floats(g.get("w0")));
            w.setRequiresGradient(true);
            for (int t = 0; t < g.get("steps").asInt(); t++) {
                double scaleUsed = scaler.scale();
                try (NDManager step = m.newSubManager()) {
                    NDArray x = step.create(input(t, overflow, nan));
                    Gradients.zero(List.of(w));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray loss = w.mul(x).sum();
                        gc.backward(scaler.scale(loss));
                    }
                    NDArray grad = w.getGradient();
                    grad.attach(step);
                    boolean finite = scaler.unscale(List.of(grad));
                    if (finite) {
                        NDArray data = w.stopGradient();
                        data.attach(step);
                        data.subi(grad.mul(lr)); // outside any graph: DJL's Number op is safe here
                    } else {
                        skipped++;
                    }
                    scaler.update(!finite);
                    JsonNode r = records.get(t);
                    if (r != null) {
                        String at = name + " step " + t;
                        assertEquals(r.get("scale_used").asDouble(), scaleUsed, at);
                        assertEquals(r.get("found_inf").asBoolean(), !finite, at);
                        assertEquals(r.get("scale_after").asDouble(), scaler.scale(), at);
                        assertEquals(r.get("tracker_after").asLong(), scaler.stateDict().get("_growth_tracker"), at);
                        assertArrayEquals(floats(r.get("unscaled_grad")), grad.toFloatArray(), at);
                        assertArrayEquals(floats(r.get("w_after")), w.toFloatArray(), at);
                    }
                }
            }
            assertArrayEquals(floats(g.get("w_final")), w.toFloatArray(), name + " final weights");
        }
        assertEquals(overflow.size() + nan.size(), skipped, "every overflow or NaN step is skipped, no other");
        Map<String, Object> expected = new LinkedHashMap<>();
        g.get("state_dict").fields().forEachRemaining(e -> expected.put(e.getKey(),
                e.getValue().isIntegralNumber() ? (Object) e.getValue().asLong() : (Object) e.getValue().asDouble()));
        assertEquals(expected, scaler.stateDict(), name + " state_dict");
    }

    @Test
    void stateDictRoundTripContinuesTheSequence() {
        LossScaler a = new LossScaler(1024, 2, 0.5, 3);
        a.update(false);
        a.update(true);
        a.update(false);
        a.update(false);
        LossScaler b = new LossScaler();
        b.loadStateDict(a.stateDict());
        assertEquals(a.stateDict(), b.stateDict());
        a.update(false);
        b.update(false);
        assertEquals(1024.0, b.scale(), "512 grown after 3 clean steps, carried over through the state");
        assertEquals(a.stateDict(), b.stateDict());
    }

    @Test
    void refusesEmptyOrDamagedState() {
        LossScaler s = new LossScaler();
        assertThrows(UserException.class, () -> s.loadStateDict(Map.of()));
        Map<String, Object> bad = new LinkedHashMap<>(s.stateDict());
        bad.put("scale", Double.NaN);
        assertThrows(UserException.class, () -> s.loadStateDict(bad));
        bad.put("scale", 2.0);
        bad.put("_growth_tracker", 2000L);
        assertThrows(UserException.class, () -> s.loadStateDict(bad));
        assertEquals(65536.0, s.scale(), "a refused state leaves the scaler as it was");
    }

    @Test
    void growthStopsBeforeFloat32Overflow() {
        LossScaler s = new LossScaler(0x1p127, 2, 0.5, 1);
        s.update(false);
        assertEquals(0x1p127, s.scale(), "2^128 is inf in float32: GradScaler keeps the old scale");
    }

    @Test
    void unscaleSeesNegativeInfinityInAnyGradient() {
        try (NDManager m = NDManager.newBaseManager()) {
            LossScaler s = new LossScaler(4, 2, 0.5, 10);
            NDArray a = m.create(new float[] {8, -4});
            NDArray b = m.create(new float[] {1, Float.NEGATIVE_INFINITY, 2});
            assertFalse(s.unscale(List.of(a, b)));
            assertArrayEquals(new float[] {2, -1}, a.toFloatArray(), "unscaled even when another gradient is not finite");
            NDArray c = m.create(new float[] {4, 12});
            assertTrue(s.unscale(List.of(c, m.create(new float[0]))));
            assertArrayEquals(new float[] {1, 3}, c.toFloatArray());
        }
    }

    /** The golden script's input of step t (tools/golden/scaler.py x_at). */
    private static float[] input(int t, Set<Integer> overflow, Set<Integer> nan) {
        float[] x = new float[4];
        for (int i = 0; i < 4; i++) {
            x[i] = overflow.contains(t) ? 1e36f : ((t * 7 + i * 3) % 11 - 5) / 4.0f;
        }
        if (nan.contains(t) && !overflow.contains(t)) {
            x[0] = Float.NaN;
        }
        return x;
    }

    private static Set<Integer> ints(JsonNode a) {
        Set<Integer> out = new TreeSet<>();
        a.forEach(v -> out.add(v.asInt()));
        return out;
    }

    private static float[] floats(JsonNode a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = a.get(i);
            out[i] = !v.isTextual() ? (float) v.asDouble() : switch (v.asText()) { // Python's str() of a non-finite float
                case "nan" -> Float.NaN;
                case "inf" -> Float.POSITIVE_INFINITY;
                case "-inf" -> Float.NEGATIVE_INFINITY;
                default -> throw new IllegalArgumentException(v.asText());
            };
        }
        return out;
    }
}
