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
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.Scalars;
import io.moco4j.util.UserException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SgdTest {
    private static final int STEPS = 5;

    /** Runs the golden gradient sequence through our Sgd, checking each step against torch.optim.SGD. */
    private void checkAgainstTorch(String name, SgdConfig config, WeightDecayRule rule) {
        Map<String, NpyArray> g = Golden.npz("optim/sgd_" + name + ".npz");
        float[] lrs = g.get("lr").toFloatArray();
        double[] lr = new double[STEPS];
        for (int s = 0; s < STEPS; s++) {
            lr[s] = new double[] {0.1, 0.1, 0.05, 0.03, 0.01}[s];
            assertEquals(lr[s], lrs[s], 1e-7, "golden lr sequence changed; update this test");
        }
        try (NDManager m = NDManager.newBaseManager(); Sgd sgd = new Sgd(config, rule)) {
            Map<String, NDArray> params = params(m, g);
            for (int s = 0; s < STEPS; s++) {
                setGradients(params, slice(g.get("gw"), s, 12), slice(g.get("gb"), s, 4));
                sgd.step(params, lr[s]);
                assertClose(slice(g.get("w"), s, 12), params.get("fc.weight").toFloatArray(), name + " weight, step " + s);
                assertClose(slice(g.get("b"), s, 4), params.get("fc.bias").toFloatArray(), name + " bias, step " + s);
            }
            if (config.momentum() != 0) {
                assertClose(g.get("buf_w").toFloatArray(), sgd.state().get("fc.weight").toFloatArray(), name + " buffer");
                assertClose(g.get("buf_b").toFloatArray(), sgd.state().get("fc.bias").toFloatArray(), name + " buffer");
            } else {
                assertTrue(sgd.state().isEmpty(), "momentum 0 keeps no buffers");
            }
            assertEquals(STEPS, sgd.stepCount());
        }
    }

    @Test
    void momentumAndWeightDecayMatchTorch() {
        checkAgainstTorch("m09_wd1e-4", SgdConfig.of(0.9, 1e-4), WeightDecayRule.ALL);
    }

    @Test
    void nesterovMatchesTorch() {
        checkAgainstTorch("m09_wd5e-4_nesterov", new SgdConfig(0.9, 5e-4, 0, true), WeightDecayRule.ALL);
    }

    @Test
    void dampeningMatchesTorch() {
        checkAgainstTorch("m09_damp01", new SgdConfig(0.9, 1e-4, 0.1, false), WeightDecayRule.ALL);
    }

    @Test
    void plainSgdMatchesTorch() {
        checkAgainstTorch("m0_wd1e-4", SgdConfig.of(0, 1e-4), WeightDecayRule.ALL);
    }

    @Test
    void sparingBiasesMatchesTorchParameterGroupWithoutDecay() {
        checkAgainstTorch("m09_wd1e-2_nobiasdecay", SgdConfig.of(0.9, 1e-2), WeightDecayRule.MATRICES_ONLY);
    }

    @Test
    void resumingFromSavedStateGivesTheStraightTrajectory() {
        Map<String, NpyArray> g = Golden.npz("optim/sgd_m09_wd5e-4_nesterov.npz");
        SgdConfig config = new SgdConfig(0.9, 5e-4, 0, true);
        double[] lr = {0.1, 0.1, 0.05, 0.03, 0.01};
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> straight = params(m, g);
            try (Sgd sgd = new Sgd(config)) {
                for (int s = 0; s < STEPS; s++) {
                    setGradients(straight, slice(g.get("gw"), s, 12), slice(g.get("gb"), s, 4));
                    sgd.step(straight, lr[s]);
                }
            }
            Map<String, NDArray> resumed = params(m, g);
            Map<String, float[]> savedState = new LinkedHashMap<>();
            Map<String, float[]> savedParams = new LinkedHashMap<>();
            long savedSteps;
            try (Sgd first = new Sgd(config)) {
                for (int s = 0; s < 2; s++) {
                    setGradients(resumed, slice(g.get("gw"), s, 12), slice(g.get("gb"), s, 4));
                    first.step(resumed, lr[s]);
                }
                first.state().forEach((k, v) -> savedState.put(k, v.toFloatArray()));
                resumed.forEach((k, v) -> savedParams.put(k, v.toFloatArray()));
                savedSteps = first.stepCount();
            }
            // a fresh process: new parameters and a new optimizer built from the saved values
            Map<String, NDArray> restored = new LinkedHashMap<>();
            savedParams.forEach((k, v) -> restored.put(k, withGrad(m.create(v, resumed.get(k).getShape()))));
            try (Sgd second = new Sgd(config); NDManager ckpt = NDManager.newBaseManager()) {
                Map<String, NDArray> state = new LinkedHashMap<>();
                savedState.forEach((k, v) -> state.put(k, ckpt.create(v, resumed.get(k).getShape())));
                second.loadState(state);
                second.setStepCount(savedSteps);
                ckpt.close(); // the optimizer must hold its own copies
                for (int s = 2; s < STEPS; s++) {
                    setGradients(restored, slice(g.get("gw"), s, 12), slice(g.get("gb"), s, 4));
                    second.step(restored, lr[s]);
                }
                assertEquals(STEPS, second.stepCount());
            }
            for (String k : straight.keySet()) {
                assertArrayEquals(straight.get(k).toFloatArray(), restored.get(k).toFloatArray(), "resumed " + k);
            }
        }
    }

    @Test
    void stepLeaksNothingAndSkipsFrozenParameters() {
        try (NDManager m = NDManager.newBaseManager(); Sgd sgd = new Sgd(SgdConfig.of(0.9, 1e-4))) {
            Map<String, NDArray> params = new LinkedHashMap<>();
            params.put("a", withGrad(m.create(new float[] {1, 2, 3})));
            params.put("frozen", m.create(new float[] {4, 5}));
            setGradients(params, new float[] {1, 1, 1});
            int before = m.getManagedArrays().size();
            for (int i = 0; i < 3; i++) {
                sgd.step(params, 0.1);
            }
            assertEquals(before, m.getManagedArrays().size(), "step must not leave arrays in the parameters' manager");
            assertArrayEquals(new float[] {4, 5}, params.get("frozen").toFloatArray());
            assertEquals(1, sgd.state().size());
            assertFalse(Arrays.equals(new float[] {1, 2, 3}, params.get("a").toFloatArray()));
        }
    }

    @Test
    void stepInsideGradientCollectorBuildsNoGraph() {
        try (NDManager m = NDManager.newBaseManager(); Sgd sgd = new Sgd(SgdConfig.of(0.9, 0))) {
            Map<String, NDArray> params = Map.of("a", withGrad(m.create(new float[] {1, 2})));
            setGradients(params, new float[] {1, -1});
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                sgd.step(params, 0.5); // in-place update of a leaf in grad mode would throw without detaching
            }
            // first step with momentum: buf = grad, p -= lr * grad (hand-checkable)
            assertArrayEquals(new float[] {0.5f, 2.5f}, params.get("a").toFloatArray(), 0f);
        }
    }

    @Test
    void zeroGradClearsAccumulatedGradients() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray p = withGrad(m.create(new float[] {1, 2}));
            for (int i = 0; i < 2; i++) {
                try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                    c.backward(Scalars.mul(p, 3).sum()); // not p.mul(3): see Scalars
                }
            }
            assertArrayEquals(new float[] {6, 6}, p.getGradient().toFloatArray(), "DJL accumulates gradients");
            Sgd.zeroGrad(Map.of("p", p));
            assertArrayEquals(new float[] {0, 0}, p.getGradient().toFloatArray());
        }
    }

    @Test
    void mismatchedStateShapeIsAUserError() {
        try (NDManager m = NDManager.newBaseManager(); Sgd sgd = new Sgd(SgdConfig.of(0.9, 0))) {
            Map<String, NDArray> params = Map.of("a", withGrad(m.create(new float[] {1, 2})));
            setGradients(params, new float[] {1, 1});
            sgd.loadState(Map.of("a", m.create(new float[] {1, 2, 3})));
            UserException e = assertThrows(UserException.class, () -> sgd.step(params, 0.1));
            assertTrue(e.getMessage().contains("'a'"), e.getMessage());
        }
    }

    @Test
    void invalidConfigurationsAreUserErrors() {
        assertThrows(UserException.class, () -> new SgdConfig(0, 0, 0, true));
        assertThrows(UserException.class, () -> new SgdConfig(0.9, 0, 0.1, true));
        assertThrows(UserException.class, () -> new SgdConfig(-0.1, 0, 0, false));
        assertThrows(UserException.class, () -> new SgdConfig(0.9, -1e-4, 0, false));
        new SgdConfig(0.9, 1e-4, 0, true); // valid
    }

    // ------------------------------------------------------------------ helpers

    private static Map<String, NDArray> params(NDManager m, Map<String, NpyArray> g) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        params.put("fc.weight", withGrad(m.create(g.get("w0").toFloatArray(), new Shape(3, 4))));
        params.put("fc.bias", withGrad(m.create(g.get("b0").toFloatArray(), new Shape(4))));
        return params;
    }

    private static NDArray withGrad(NDArray a) {
        a.setRequiresGradient(true);
        return a;
    }

    /** Makes each parameter's gradient exactly {@code grads[i]}: zero it, then backprop sum(p * g). */
    static void setGradients(Map<String, NDArray> params, float[]... grads) {
        Sgd.zeroGrad(params);
        try (NDManager tmp = NDManager.newBaseManager();
                GradientCollector c = Engine.getInstance().newGradientCollector()) {
            NDArray total = null;
            int i = 0;
            for (NDArray p : params.values()) {
                if (!p.hasGradient()) {
                    continue;
                }
                NDArray term = p.mul(tmp.create(grads[i++], p.getShape())).sum();
                term.attach(tmp);
                total = total == null ? term : total.add(term);
            }
            c.backward(total);
        }
    }

    private static float[] slice(NpyArray a, int step, int size) {
        return Arrays.copyOfRange(a.toFloatArray(), step * size, (step + 1) * size);
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            // 1e-6 relative, but at least 1e-6 absolute: the parameters are O(1), so entries that
            // cancel to nearly zero carry the rounding error of the O(1) terms they came from.
            double tol = 1e-6 * Math.max(Math.abs(expected[i]), 1.0);
            assertEquals(expected[i], actual[i], tol, what + " [" + i + "]");
        }
    }
}
