package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.loss.InBatchContrastive;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Mlp;
import io.moco4j.model.MlpSpec;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.optim.Lars;
import io.moco4j.optim.LarsConfig;
import io.moco4j.optim.LrSchedule;
import io.moco4j.testutil.Golden;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The official moco-v3 training steps (golden/moco_v3/train_*.npz, 3 iterations of main_moco.py train() on
 * MoCo_ResNet) rebuilt by hand from the v3 pieces: ResNet backbone + {@link Mlp} projector per encoder, the
 * predictor, {@link Lars}, {@link LrSchedule#warmupCosine}, {@link MomentumSchedule#cosine},
 * {@link Networks#momentumUpdate} and {@link InBatchContrastive#symmetricLoss}. It checks that the pieces compose
 * to the official step and that the golden files carry what an engine test needs; the engine's own test replaces
 * the hand assembly with the engine.
 */
class MocoV3PiecesGoldenTest {
    private final JsonNode meta = Golden.json("moco_v3/moco_v3.json");
    private final JsonNode hyper = meta.get("train_hyper");

    /** One encoder: backbone then projector, with the state keys of MoCo_ResNet's base_encoder (fc.* = projector). */
    private record Encoder(ResNet backbone, Mlp projector) {
        NDArray forward(NDArray x) {
            return projector.forward(backbone.forward(x, true), true);
        }

        Map<String, NDArray> state() {
            Map<String, NDArray> s = new LinkedHashMap<>(backbone.stateDict());
            projector.stateDict().forEach((k, v) -> s.put("fc." + k, v));
            return s;
        }

        void load(Map<String, NDArray> state) {
            Map<String, NDArray> b = new LinkedHashMap<>();
            Map<String, NDArray> p = new LinkedHashMap<>();
            state.forEach((k, v) -> (k.startsWith("fc.") ? p : b).put(k.startsWith("fc.") ? k.substring(3) : k, v));
            backbone.loadStateDict(b, true);
            projector.loadStateDict(p, true);
        }

        void momentumUpdateFrom(Encoder base, double m) {
            Networks.momentumUpdate(backbone, base.backbone, m);
            Networks.momentumUpdate(projector, base.projector, m);
        }
    }

    private Encoder encoder(NDManager m) {
        ResNetSpec spec = new ResNetSpec(18, hyper.get("cifar_stem").asBoolean(), hyper.get("width").asDouble(), false,
                HeadSpec.none(), 1);
        ResNet backbone = ResNet.create(spec, m, 1);
        return new Encoder(backbone, Mlp.create(MlpSpec.resnetProjector(backbone.featureDim(),
                hyper.get("mlp_dim").asInt(), hyper.get("dim").asInt()), m, 1, "fc."));
    }

    @ParameterizedTest
    @ValueSource(strings = {"t1", "t02"})
    void threeOfficialStepsFromThePieces(String name) {
        JsonNode c = meta.get("train").get(name);
        Map<String, NpyArray> g = Golden.npz("moco_v3/train_" + name + ".npz");
        Map<String, NpyArray> inputs = Golden.npz("moco_v3/train_inputs.npz");
        double t = c.get("T").asDouble();
        // 3x the official run's own float32-vs-float64 disagreement, at least 1e-5
        double tol = 3 * Math.max(1e-5 / 3, max(c.get("float32_vs_float64")));
        try (NDManager root = NDManager.newBaseManager()) {
            Encoder base = encoder(root);
            Encoder momentum = encoder(root);
            Mlp predictor = Mlp.create(MlpSpec.resnetPredictor(hyper.get("dim").asInt(), hyper.get("mlp_dim").asInt()),
                    root, 1, "predictor.");
            base.load(unflatten(g.get("init/base_encoder"), c.get("base_encoder_keys"), root));
            momentum.load(unflatten(g.get("init/base_encoder"), c.get("base_encoder_keys"), root));
            predictor.loadStateDict(unflatten(g.get("init/predictor"), c.get("predictor_keys"), root), true);
            Networks.setRequiresGradient(base.backbone, true);
            Networks.setRequiresGradient(base.projector, true);
            Networks.setRequiresGradient(predictor, true);
            // LARS over the trained parameters, named as in moco-v3's module
            Map<String, NDArray> params = new LinkedHashMap<>();
            base.backbone.parameters().forEach((k, v) -> params.put("base_encoder." + k, v));
            base.projector.parameters().forEach((k, v) -> params.put("base_encoder.fc." + k, v));
            predictor.parameters().forEach((k, v) -> params.put("predictor." + k, v));

            LrSchedule lrs = LrSchedule.warmupCosine(hyper.get("lr").asDouble(), hyper.get("warmup_epochs").asInt(),
                    hyper.get("epochs").asInt());
            MomentumSchedule ms = MomentumSchedule.cosine(hyper.get("moco_m").asDouble(), hyper.get("epochs").asInt());
            int iters = hyper.get("iters_per_epoch").asInt();
            try (Lars lars = new Lars(LarsConfig.mocoV3(hyper.get("weight_decay").asDouble()))) {
                for (int s = 0; s < hyper.get("steps").asInt(); s++) {
                    int epoch = c.get("epoch").get(s).asInt();
                    int i = c.get("step").get(s).asInt();
                    double lr = lrs.lr(epoch, i, iters);
                    double m = ms.at(epoch, i, iters);
                    assertEquals(c.get("lr").get(s).asDouble(), lr, 1e-15, "lr at step " + s);
                    assertEquals(c.get("m").get(s).asDouble(), m, 1e-15, "m at step " + s);
                    try (NDManager step = root.newSubManager()) {
                        NDArray x1 = nd(inputs.get("step" + s + "/x1"), step);
                        NDArray x2 = nd(inputs.get("step" + s + "/x2"), step);
                        Networks.zeroGradients(base.backbone);
                        Networks.zeroGradients(base.projector);
                        Networks.zeroGradients(predictor);
                        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                            NDArray q1 = predictor.forward(base.forward(x1), true);
                            NDArray q2 = predictor.forward(base.forward(x2), true);
                            momentum.momentumUpdateFrom(base, m); // after the queries, before the keys, as moco-v3
                            NDArray k1 = momentum.forward(x1);
                            NDArray k2 = momentum.forward(x2);
                            NDArray loss = InBatchContrastive.symmetricLoss(q1, q2, k1, k2, t);
                            gc.backward(loss);
                            double expected = c.get("losses").get(s).asDouble();
                            assertEquals(expected, loss.getFloat(), tol * Math.abs(expected), "loss at step " + s);
                        }
                        lars.step(params, lr);
                    }
                }
                assertState("final base_encoder", g.get("final/base_encoder"), c.get("base_encoder_keys"), base.state(), tol);
                assertState("final momentum_encoder", g.get("final/momentum_encoder"), c.get("momentum_encoder_keys"),
                        momentum.state(), tol);
                assertState("final predictor", g.get("final/predictor"), c.get("predictor_keys"), predictor.stateDict(), tol);
                assertState("LARS mu", g.get("final/lars_mu"), c.get("lars_mu_keys"), lars.state(), tol);
            }
        }
    }

    private static double max(JsonNode agreement) {
        double v = 0;
        for (JsonNode a : agreement) {
            v = Math.max(v, a.asDouble());
        }
        return v;
    }

    private static NDArray nd(NpyArray a, NDManager m) {
        return m.create(a.toFloatArray(), new Shape(a.shape()));
    }

    private static Map<String, NDArray> unflatten(NpyArray flat, JsonNode keys, NDManager m) {
        float[] v = flat.toFloatArray();
        Map<String, NDArray> out = new LinkedHashMap<>();
        int at = 0;
        for (JsonNode k : keys) {
            long[] shape = shape(k.get(1));
            int n = Math.toIntExact(new Shape(shape).size());
            out.put(k.get(0).asText(), m.create(Arrays.copyOfRange(v, at, at + n), new Shape(shape)));
            at += n;
        }
        assertEquals(v.length, at, "flat vector length vs key shapes");
        return out;
    }

    private static long[] shape(JsonNode dims) {
        long[] s = new long[dims.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = dims.get(i).asLong();
        }
        return s;
    }

    /** Same keys in the same order, and max |actual - expected| <= tol * max(1, max |expected|) over the whole state. */
    private static void assertState(String what, NpyArray flat, JsonNode keys, Map<String, NDArray> actual, double tol) {
        List<String> expectedKeys = new ArrayList<>();
        keys.forEach(k -> expectedKeys.add(k.get(0).asText()));
        assertEquals(expectedKeys, new ArrayList<>(actual.keySet()), what + ": keys");
        float[] e = flat.toFloatArray();
        double scale = 1;
        for (float x : e) {
            scale = Math.max(scale, Math.abs(x));
        }
        int at = 0;
        double worst = 0;
        String worstKey = null;
        for (Map.Entry<String, NDArray> a : actual.entrySet()) {
            float[] v = a.getValue().toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
            for (float x : v) {
                double d = Math.abs(x - e[at++]);
                if (d > worst) {
                    worst = d;
                    worstKey = a.getKey();
                }
            }
        }
        assertTrue(worst <= tol * scale, what + ": max diff " + worst + " in " + worstKey + " exceeds " + tol + " * " + scale);
    }
}
