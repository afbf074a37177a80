package io.moco4j.model;

import static io.moco4j.model.TensorAsserts.assertClose;
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
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link Mlp} against moco-v3's MoCo._build_mlp (tools/golden/moco_v3.py, golden/moco_v3/mlp_*.npz). */
class MlpGoldenTest {
    /**
     * Relative to max(1, largest value). Floor: torch 1.13's own 1-vs-2-thread spread of these files
     * (tools/golden/moco_v3.py rerun at 2 threads, 2026-12-06): at most 5.9e-7 (gradients); 1e-5 is 17x that. Ours
     * against the golden: at most 3.4e-7 at 1 thread, 7.1e-7 at 2 (MOCO4J_TOLERANCE_REPORT=1). BatchNorm buffers in eval: equal.
     */
    private static final double TOL = 1e-5;

    private static JsonNode meta(String name) {
        return Golden.json("moco_v3/moco_v3.json").get("mlp").get(name);
    }

    private static MlpSpec spec(JsonNode c) {
        return new MlpSpec(c.get("in_dim").asInt(), c.get("mlp_dim").asInt(), c.get("out_dim").asInt(),
                c.get("layers").asInt(), c.get("last_bn").asBoolean());
    }

    @ParameterizedTest
    @ValueSource(strings = {"last_bn", "no_last_bn"})
    void keysShapesAndOrderAreNnSequentials(String name) {
        JsonNode c = meta(name);
        List<String> keys = new ArrayList<>();
        spec(c).stateShapes().forEach((k, shape) -> keys.add(k + " " + java.util.Arrays.toString(shape)));
        List<String> expected = new ArrayList<>();
        c.get("state_keys").forEach(e -> {
            List<Long> dims = new ArrayList<>();
            e.get(1).forEach(d -> dims.add(d.asLong()));
            expected.add(e.get(0).asText() + " " + dims);
        });
        assertEquals(expected, keys);
        try (NDManager root = NDManager.newBaseManager(); Mlp mlp = Mlp.create(spec(c), root, 1)) {
            List<String> params = new ArrayList<>();
            c.get("parameters").forEach(p -> params.add(p.asText()));
            List<String> buffers = new ArrayList<>();
            c.get("buffers").forEach(p -> buffers.add(p.asText()));
            assertEquals(params, new ArrayList<>(mlp.parameters().keySet()));
            assertEquals(buffers, new ArrayList<>(mlp.buffers().keySet()));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"last_bn", "no_last_bn"})
    void forwardBackwardAndRunningStatsMatchTorch(String name) {
        Map<String, NpyArray> g = Golden.npz("moco_v3/mlp_" + name + ".npz");
        try (NDManager root = NDManager.newBaseManager(); Mlp mlp = Mlp.create(spec(meta(name)), root, 3)) {
            mlp.loadStateDict(TensorAsserts.group(g, "state", root), true);
            try (NDManager step = root.newSubManager()) {
                NDArray x = TensorAsserts.toNd(g.get("x"), step);
                assertClose("eval output", g.get("out_eval"), mlp.forward(x, false), TOL);
                for (Map.Entry<String, NDArray> e : mlp.buffers().entrySet()) {
                    assertClose("eval leaves " + e.getKey(), g.get("state/" + e.getKey()), e.getValue(), 0);
                }
                NDArray r = TensorAsserts.toNd(g.get("loss_weights"), step);
                Networks.setRequiresGradient(mlp, true);
                x.setRequiresGradient(true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray out = mlp.forward(x, true);
                    NDArray loss = out.mul(r).sum();
                    gc.backward(loss);
                    assertClose("train output", g.get("out_train"), out, TOL);
                }
                assertClose("d loss / d x", g.get("grad/x"), x.getGradient(), TOL);
                for (String k : mlp.parameters().keySet()) {
                    assertClose("d loss / d " + k, g.get("grad/" + k), Networks.gradient(mlp.parameters().get(k), step),
                            TOL);
                }
            }
            for (Map.Entry<String, NDArray> e : mlp.buffers().entrySet()) {
                assertClose("after one train forward: " + e.getKey(), g.get("after/" + e.getKey()), e.getValue(), TOL);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"last_bn", "no_last_bn"})
    void theOtherLastBnSettingDoesNotLoad(String name) {
        Map<String, NpyArray> g = Golden.npz("moco_v3/mlp_" + name + ".npz");
        MlpSpec s = spec(meta(name));
        MlpSpec flipped = new MlpSpec(s.inDim(), s.hiddenDim(), s.outDim(), s.layers(), !s.lastBn());
        try (NDManager root = NDManager.newBaseManager(); Mlp mlp = Mlp.create(flipped, root, 3)) {
            UserException e = assertThrows(UserException.class,
                    () -> mlp.loadStateDict(TensorAsserts.group(g, "state", root), true));
            assertTrue(e.getMessage().contains("running_mean"), e.getMessage());
        }
    }

    @org.junit.jupiter.api.Test
    void initIsTorchDefaultAndDrawnPerKey() {
        MlpSpec s = MlpSpec.resnetProjector(256, 128, 32);
        try (NDManager root = NDManager.newBaseManager(); Mlp a = Mlp.create(s, root, 7);
                Mlp b = Mlp.create(s, root, 7); Mlp c = Mlp.create(s, root, 7, "predictor.")) {
            float[] w = a.stateDict().get("0.weight").toFloatArray();
            double bound = 1 / Math.sqrt(256);
            double sq = 0;
            for (float v : w) {
                assertTrue(Math.abs(v) <= bound, "U(+-1/sqrt(fan_in))");
                sq += v * v;
            }
            // the variance of U(-b, b) is b^2 / 3; 32768 samples put the estimate within ~1% of it
            assertEquals(bound * bound / 3, sq / w.length, 0.03 * bound * bound / 3);
            assertArrayEquals(new float[128], a.stateDict().get("1.bias").toFloatArray());
            float[] ones = new float[128];
            java.util.Arrays.fill(ones, 1f);
            assertArrayEquals(ones, a.stateDict().get("1.weight").toFloatArray());
            assertArrayEquals(java.util.Arrays.copyOf(ones, 32), a.stateDict().get("4.running_var").toFloatArray());
            assertEquals(0L, a.stateDict().get("4.num_batches_tracked").getLong());
            assertFalse(a.stateDict().containsKey("4.weight"), "the last BN has no affine parameters");
            assertArrayEquals(w, b.stateDict().get("0.weight").toFloatArray(), "same seed, same weights");
            assertFalse(java.util.Arrays.equals(w, c.stateDict().get("0.weight").toFloatArray()),
                    "another init prefix draws other weights");
            assertEquals(256L * 128 + 2 * 128 + 128L * 32, s.parameterCount());
        }
    }

    @org.junit.jupiter.api.Test
    void trainingOnOneSampleIsAUserError() {
        try (NDManager root = NDManager.newBaseManager(); Mlp mlp = Mlp.create(MlpSpec.resnetPredictor(4, 8), root, 1)) {
            NDArray x = root.ones(new ai.djl.ndarray.types.Shape(1, 4));
            assertThrows(UserException.class, () -> mlp.forward(x, true));
            assertEquals(1, mlp.forward(x, false).getShape().get(0), "eval works on one sample");
        }
        assertThrows(UserException.class, () -> new MlpSpec(4, 0, 4, 2, true));
        assertThrows(UserException.class, () -> new MlpSpec(4, 8, 4, 0, true));
    }
}
