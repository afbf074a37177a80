package io.moco4j.model;

import io.moco4j.testutil.ToleranceReport;
import static io.moco4j.model.TensorAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.optim.AdamW;
import io.moco4j.optim.AdamWConfig;
import io.moco4j.testutil.Golden;
import io.moco4j.util.Gradients;
import io.moco4j.util.NoGrad;
import io.moco4j.util.Scalars;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Three official MoCo_ViT steps with AdamW (tools/golden/vit.py, main_moco.py's loop) replayed with
 * {@link VisionTransformer} and {@link AdamW}, the projector/predictor MLPs and the loss written out here in a few
 * lines (the engine owns the real ones): losses, both encoders with their projectors, the predictor and the AdamW
 * state after the third step. This is the backbone and optimizer under a real loss, warm-up lr (the first 0) and a
 * cosine momentum, with stop_grad_conv1; the integrator's engine test can read the same file.
 */
class VitMocoStepGoldenTest {
    /**
     * Tensors after three steps, absolute on O(1) values. Ours against the golden at 1 / 2 threads (2026-12-06,
     * MOCO4J_TOLERANCE_REPORT=1): at most 2.0e-5 / 2.2e-5 (AdamW moments of the cls token), 4.6x below. The loss
     * (1e-5 below) was off by 4.1e-6 / 3.6e-6, only 2.4x below its bound; torch 1.13's own thread spread of tools/golden/vit.py is not
     * measured yet (docs/TOLERANCES.md, open).
     */
    private static final double TOL = 1e-4;
    private static final JsonNode META = Golden.json("vit/vit.json").get("moco_step");
    private static final Map<String, NpyArray> G = Golden.npz("vit/moco_step.npz");

    @Test
    void threeOfficialStepsAreReproduced() {
        JsonNode s = META.get("spec");
        VitSpec spec = new VitSpec(s.get("img").asInt(), s.get("patch").asInt(), s.get("dim").asInt(),
                s.get("depth").asInt(), s.get("heads").asInt(), 4, META.get("stop_grad_conv1").asBoolean());
        double t = META.get("T").asDouble();
        try (NDManager root = NDManager.newBaseManager();
                VisionTransformer base = VisionTransformer.create(spec, root, 1);
                VisionTransformer momentum = VisionTransformer.create(spec, root, 2);
                AdamW adamw = new AdamW(new AdamWConfig(0.9, 0.999, META.get("eps").asDouble(),
                        META.get("weight_decay").asDouble()))) {
            Map<String, NDArray> init = TensorAsserts.group(G, "init", root);
            base.loadStateDict(only(init, false), true);
            momentum.loadStateDict(only(init, false), true);
            Map<String, NDArray> baseHead = copies(only(init, true), root, "head.");
            Map<String, NDArray> momentumHead = copies(only(init, true), root, "head.");
            Map<String, NDArray> predictor = copies(init, root, "predictor.");
            VisionTransformerGoldenTest.train(base);
            List<NDArray> trainedHeads = new ArrayList<>();
            for (Map<String, NDArray> m : List.of(baseHead, predictor)) {
                m.forEach((k, v) -> {
                    if (isTrained(k)) {
                        v.setRequiresGradient(true);
                        trainedHeads.add(v);
                    }
                });
            }
            for (int step = 0; step < 3; step++) {
                JsonNode st = META.get("steps").get(step);
                try (NDManager sm = root.newSubManager()) {
                    NDArray x1 = TensorAsserts.toNd(G.get("x1/step" + step), sm);
                    NDArray x2 = TensorAsserts.toNd(G.get("x2/step" + step), sm);
                    Gradients.zero(base.trainableParameters().values());
                    Gradients.zero(trainedHeads);
                    float loss;
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray q1 = mlp(predictor, "", 2, mlp(baseHead, "head.", 3, base.forward(x1, true)));
                        NDArray q2 = mlp(predictor, "", 2, mlp(baseHead, "head.", 3, base.forward(x2, true)));
                        NDArray k1;
                        NDArray k2;
                        try (NoGrad ignored = NoGrad.enter()) {
                            double m = st.get("m").asDouble();
                            Networks.momentumUpdate(momentum, base, m); // all parameters(), frozen ones too
                            emaHead(momentumHead, baseHead, m);
                            k1 = mlp(momentumHead, "head.", 3, momentum.forward(x1, true));
                            k2 = mlp(momentumHead, "head.", 3, momentum.forward(x2, true));
                        }
                        NDArray l = contrastive(q1, k2, t).add(contrastive(q2, k1, t));
                        gc.backward(l);
                        loss = l.getFloat();
                    }
                    ToleranceReport.print("vit loss of step " + step, Math.abs(loss - st.get("loss").asDouble()), 1e-5);
                    assertEquals(st.get("loss").asDouble(), loss, 1e-5, "loss of step " + step);
                    Map<String, NDArray> trained = new LinkedHashMap<>();
                    base.trainableParameters().forEach((k, v) -> trained.put("base_encoder." + k, v));
                    baseHead.forEach((k, v) -> {
                        if (isTrained(k)) {
                            trained.put("base_encoder." + k, v);
                        }
                    });
                    predictor.forEach((k, v) -> {
                        if (isTrained(k)) {
                            trained.put("predictor." + k, v);
                        }
                    });
                    adamw.step(trained, st.get("lr").asDouble());
                }
            }
            base.stateDict().forEach((k, v) -> closeUnlessNoise("base " + k, G.get("final_base/" + k), v));
            baseHead.forEach((k, v) -> closeUnlessNoise("base " + k, G.get("final_base/" + k), v));
            momentum.stateDict().forEach((k, v) -> closeUnlessNoise("momentum " + k, G.get("final_momentum/" + k), v));
            momentumHead.forEach((k, v) -> closeUnlessNoise("momentum " + k, G.get("final_momentum/" + k), v));
            predictor.forEach((k, v) -> assertClose("predictor " + k, G.get("final_predictor/" + k), v, TOL));
            int states = 0;
            for (Map.Entry<String, NpyArray> e : G.entrySet()) {
                if (e.getKey().startsWith("adam/")) {
                    String[] parts = e.getKey().split("/", 3); // adam/<slot>/<name>
                    closeUnlessNoise("AdamW " + parts[1] + " of " + parts[2], e.getValue(),
                            adamw.state().get(parts[2] + "." + parts[1]));
                    states++;
                }
            }
            assertEquals(states, adamw.state().size(), "AdamW keeps state for exactly torch's tensors");
        }
    }

    /**
     * Compares, leaving out what is float noise in torch and here alike. Two tensors have an exactly zero gradient
     * in MoCo_ViT: the K third of each {@code attn.qkv.bias} (adding a constant to every key of a query leaves its
     * softmax unchanged) and the final {@code norm.bias} (a shift of every feature, which the projector's first
     * BatchNorm subtracts again). Backward gives them rounding noise (~1e-9) that Adam's normalisation turns into
     * steps of +-lr with a random sign; they change no output, only themselves, their momentum copies, their AdamW
     * state and (for norm.bias) the batch means {@code head.1.running_mean} tracks.
     */
    static void closeUnlessNoise(String what, NpyArray expected, NDArray actual) {
        if (what.endsWith(" norm.bias") || what.endsWith("_encoder.norm.bias") || what.endsWith(" head.1.running_mean")) {
            return;
        }
        if (!what.endsWith("attn.qkv.bias")) {
            assertClose(what, expected, actual, TOL);
            return;
        }
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        assertEquals(e.length, a.length, what);
        int d = e.length / 3;
        ToleranceReport.print(what + " (q and v)", join(e, d), join(a, d), TOL);
        for (int i = 0; i < e.length; i++) {
            if (i < d || i >= 2 * d) {
                assertEquals(e[i], a[i], TOL, what + "[" + i + "]");
            }
        }
    }

    /** The first and last third of a qkv vector (q and v), the parts compared. */
    private static float[] join(float[] qkv, int d) {
        float[] out = new float[2 * d];
        System.arraycopy(qkv, 0, out, 0, d);
        System.arraycopy(qkv, 2 * d, out, d, d);
        return out;
    }

    /** Linear (no bias), then BN + ReLU after every layer but the last, the last followed by BN without affine. */
    private static NDArray mlp(Map<String, NDArray> w, String prefix, int layers, NDArray x) {
        NDArray h = x;
        for (int l = 0; l < layers; l++) {
            String lin = prefix + (3 * l) + ".";
            String bn = prefix + (3 * l + 1) + ".";
            NDArray y = Layers.linear(h, w.get(lin + "weight"), null);
            boolean last = l == layers - 1;
            NDManager m = y.getManager();
            NDArray gamma = last ? m.ones(new Shape(y.getShape().get(1))) : w.get(bn + "weight");
            NDArray beta = last ? m.zeros(new Shape(y.getShape().get(1))) : w.get(bn + "bias");
            NDArray z = new BatchNorm2d(gamma, beta, w.get(bn + "running_mean"), w.get(bn + "running_var"),
                    w.get(bn + "num_batches_tracked")).forward(y, true, 1);
            h = last ? z : Layers.relu(z);
        }
        return h;
    }

    /** main_moco's contrastive_loss on one process: CE(q k^T / T, arange(N)) * 2T over L2-normalised q and k. */
    private static NDArray contrastive(NDArray q, NDArray k, double t) {
        NDArray qn = q.div(Scalars.maximum(q.norm(new int[] {1}, true), 1e-12));
        NDArray kn = k.div(Scalars.maximum(k.norm(new int[] {1}, true), 1e-12));
        NDArray logits = Scalars.div(qn.matMul(kn.transpose()), t);
        long n = logits.getShape().get(0);
        NDArray picked = logits.logSoftmax(1).mul(logits.getManager().eye((int) n)).sum();
        return Scalars.mul(Scalars.div(picked.neg(), n), 2 * t);
    }

    private static void emaHead(Map<String, NDArray> key, Map<String, NDArray> query, double m) {
        key.forEach((name, pk) -> {
            if (isTrained(name)) {
                pk.muli((float) m);
                try (NDArray scaled = query.get(name).mul((float) (1.0 - m))) {
                    pk.addi(scaled);
                }
            }
        });
    }

    private static boolean isTrained(String key) {
        return key.endsWith("weight") || key.endsWith("bias");
    }

    private static Map<String, NDArray> only(Map<String, NDArray> init, boolean head) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        init.forEach((k, v) -> {
            if (!k.startsWith("predictor.") && k.startsWith("head.") == head) {
                out.put(k, v);
            }
        });
        return out;
    }

    /** Own copies of the entries under {@code prefix}: "head." keeps its prefix, "predictor." drops it. */
    private static Map<String, NDArray> copies(Map<String, NDArray> from, NDManager m, String prefix) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        from.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                NDArray c = v.duplicate();
                c.attach(m);
                out.put(prefix.equals("head.") ? k : k.substring(prefix.length()), c);
            }
        });
        return out;
    }
}
