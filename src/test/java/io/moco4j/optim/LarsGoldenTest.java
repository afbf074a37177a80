package io.moco4j.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link Lars} against moco-v3's moco/optimizer.py LARS (tools/golden/moco_v3.py, golden/moco_v3/lars.npz). */
class LarsGoldenTest {
    /** 1e-6 relative to max(1, |expected|): float32 rounding of O(1) values, far below any real difference. */
    private static final double TOL = 1e-6;
    private final Map<String, NpyArray> g = Golden.npz("moco_v3/lars.npz");
    private final JsonNode meta = Golden.json("moco_v3/moco_v3.json").get("lars");

    private Map<String, NDArray> initialParams(NDManager m) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        for (JsonNode p : meta.get("params")) {
            String name = p.get(0).asText();
            NpyArray init = g.get("init/" + name);
            NDArray a = m.create(init.toFloatArray(), new Shape(init.shape()));
            if (!name.equals("frozen.weight")) {
                a.setRequiresGradient(true);
            }
            params.put(name, a);
        }
        return params;
    }

    private LarsConfig config() {
        assertEquals(0.9, meta.get("momentum").asDouble());
        assertEquals(0.001, meta.get("trust_coefficient").asDouble());
        return LarsConfig.mocoV3(meta.get("weight_decay").asDouble());
    }

    private double lr(int step) {
        return meta.get("lr").get(step).asDouble();
    }

    private void setGradients(Map<String, NDArray> params, int step) {
        Map<String, float[]> grads = new LinkedHashMap<>();
        params.forEach((name, p) -> {
            if (p.hasGradient()) {
                grads.put(name, g.get("grad/" + step + "/" + name).toFloatArray());
            }
        });
        setGradients(params, grads);
    }

    @Test
    void trajectoryMatchesOfficialLars() {
        int steps = meta.get("steps").asInt();
        try (NDManager m = NDManager.newBaseManager(); Lars lars = new Lars(config())) {
            Map<String, NDArray> params = initialParams(m);
            for (int s = 0; s < steps; s++) {
                setGradients(params, s);
                lars.step(params, lr(s));
                for (Map.Entry<String, NDArray> e : params.entrySet()) {
                    assertClose(g.get("after/" + s + "/" + e.getKey()).toFloatArray(), e.getValue().toFloatArray(),
                            e.getKey() + " after step " + s);
                }
                for (Map.Entry<String, NDArray> e : lars.state().entrySet()) {
                    assertClose(g.get("mu/" + s + "/" + e.getKey()).toFloatArray(), e.getValue().toFloatArray(),
                            e.getKey() + " mu after step " + s);
                }
                assertEquals(params.size() - 1, lars.state().size(), "every parameter with a gradient has mu");
            }
            assertFalse(lars.state().containsKey("frozen.weight"), "no gradient, no state");
            assertArrayEquals(g.get("init/frozen.weight").toFloatArray(), params.get("frozen.weight").toFloatArray());
            assertEquals(steps, lars.stepCount());
        }
    }

    /** The tolerance above separates the official rule from LARS that also trust-scales BN/bias parameters. */
    @Test
    void theTestWouldCatchTrustScalingOfOneDimensionalParameters() {
        int last = meta.get("steps").asInt() - 1;
        for (String name : new String[] {"bn.weight", "bn.bias", "fc.bias", "scale"}) {
            float[] official = g.get("after/" + last + "/" + name).toFloatArray();
            float[] variant = g.get("variant_trust_all/" + name).toFloatArray();
            double worst = 0;
            for (int i = 0; i < official.length; i++) {
                worst = Math.max(worst, Math.abs(official[i] - variant[i]));
            }
            assertTrue(worst > 1000 * TOL, name + ": the wrong variant differs by only " + worst);
        }
        // and 2-D parameters are the same in both (so the variant is exactly "ndim test removed")
        assertArrayEquals(g.get("after/" + last + "/fc.weight").toFloatArray(),
                g.get("variant_trust_all/fc.weight").toFloatArray());
    }

    @Test
    void restoredStateContinuesTheTrajectoryExactly() {
        int steps = meta.get("steps").asInt();
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> straight = initialParams(m);
            try (Lars lars = new Lars(config())) {
                for (int s = 0; s < steps; s++) {
                    setGradients(straight, s);
                    lars.step(straight, lr(s));
                }
            }
            Map<String, NDArray> resumed = initialParams(m);
            Map<String, float[]> saved = new LinkedHashMap<>();
            long savedSteps;
            try (Lars first = new Lars(config())) {
                for (int s = 0; s < 2; s++) {
                    setGradients(resumed, s);
                    first.step(resumed, lr(s));
                }
                first.state().forEach((k, v) -> saved.put(k, v.toFloatArray()));
                savedSteps = first.stepCount();
            }
            try (Lars second = new Lars(config()); NDManager ckpt = NDManager.newBaseManager()) {
                Map<String, NDArray> state = new LinkedHashMap<>();
                saved.forEach((k, v) -> state.put(k, ckpt.create(v, resumed.get(k).getShape())));
                second.loadState(state);
                second.setStepCount(savedSteps);
                state.values().forEach(NDArray::close); // loadState copied them
                for (int s = 2; s < steps; s++) {
                    setGradients(resumed, s);
                    second.step(resumed, lr(s));
                }
                assertEquals(steps, second.stepCount());
            }
            for (String k : straight.keySet()) {
                assertArrayEquals(straight.get(k).toFloatArray(), resumed.get(k).toFloatArray(), "resumed " + k);
            }
        }
    }

    @Test
    void stepLeaksNothingAndBuildsNoGraph() {
        try (NDManager m = NDManager.newBaseManager(); Lars lars = new Lars(LarsConfig.mocoV3(1e-2))) {
            Map<String, NDArray> params = new LinkedHashMap<>();
            NDArray w = m.create(new float[] {3, 4}, new Shape(1, 2));
            w.setRequiresGradient(true);
            params.put("w", w);
            setGradients(params, Map.of("w", new float[] {0.6f, 0.8f}));
            int before = m.getManagedArrays().size();
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                lars.step(params, 2.0); // an in-place update of a leaf in grad mode would throw without detaching
            }
            // hand-checkable first step: dp = g + 0.01 p = (0.63, 0.84), |dp| = 1.05, |p| = 5,
            // q = 0.001 * 5 / 1.05, mu = q * dp = (0.003, 0.004), p -= 2 * mu
            assertArrayEquals(new float[] {0.003f, 0.004f}, lars.state().get("w").toFloatArray(), 1e-9f);
            assertArrayEquals(new float[] {3 - 0.006f, 4 - 0.008f}, w.toFloatArray(), 1e-6f);
            float[] afterFirst = w.toFloatArray();
            lars.step(params, 0.0); // mu moves, the parameter does not
            assertArrayEquals(afterFirst, w.toFloatArray());
            assertEquals(before, m.getManagedArrays().size(), "step must not leave arrays in the parameters' manager");
        }
    }

    @Test
    void mismatchedStateShapeAndBadSettingsAreUserErrors() {
        try (NDManager m = NDManager.newBaseManager(); Lars lars = new Lars(LarsConfig.mocoV3(0))) {
            NDArray a = m.create(new float[] {1, 2});
            a.setRequiresGradient(true);
            Map<String, NDArray> params = Map.of("a", a);
            setGradients(params, Map.of("a", new float[] {1, 1}));
            lars.loadState(Map.of("a", m.create(new float[] {1, 2, 3})));
            UserException e = assertThrows(UserException.class, () -> lars.step(params, 0.1));
            assertTrue(e.getMessage().contains("'a'"), e.getMessage());
        }
        assertThrows(UserException.class, () -> new LarsConfig(1.0, 0, 0.001));
        assertThrows(UserException.class, () -> new LarsConfig(0.9, -1e-6, 0.001));
        assertThrows(UserException.class, () -> new LarsConfig(0.9, 1e-6, 0));
        assertThrows(UserException.class, () -> new LarsConfig(Double.NaN, 1e-6, 0.001));
    }

    // ------------------------------------------------------------------ helpers

    /** Makes each named parameter's gradient exactly the given values: zero it, then backprop sum(p * g). */
    private static void setGradients(Map<String, NDArray> params, Map<String, float[]> grads) {
        Sgd.zeroGrad(params);
        try (NDManager tmp = NDManager.newBaseManager();
                GradientCollector c = Engine.getInstance().newGradientCollector()) {
            NDArray total = null;
            for (Map.Entry<String, float[]> e : grads.entrySet()) {
                NDArray p = params.get(e.getKey());
                NDArray term = p.mul(tmp.create(e.getValue(), p.getShape())).sum();
                term.attach(tmp);
                total = total == null ? term : total.add(term);
            }
            c.backward(total);
        }
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs((double) actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), 1.0));
        }
        io.moco4j.testutil.ToleranceReport.print("lars " + what, worst, TOL);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], TOL * Math.max(Math.abs(expected[i]), 1.0), what + " [" + i + "]");
        }
    }
}
