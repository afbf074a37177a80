package io.moco4j.model;

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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** THROWAWAY: replays the golden steps twice in one JVM and prints where run 2 departs from run 1. */
class VitReplayTwiceDebugTest {
    private static final JsonNode META = Golden.json("vit/vit.json").get("moco_step");
    private static final Map<String, NpyArray> G = Golden.npz("vit/moco_step.npz");

    @Test
    void mixed() {
        int n = Integer.getInteger("mixed", 0);
        for (int i = 0; i < n; i++) {
            run(100 + i);
            engine(200 + i);
        }
    }

    void engine(int r) {
        JsonNode s = META.get("spec");
        VitSpec spec = new VitSpec(s.get("img").asInt(), s.get("patch").asInt(), s.get("dim").asInt(),
                s.get("depth").asInt(), s.get("heads").asInt(), 4, META.get("stop_grad_conv1").asBoolean());
        int dim = META.get("dim").asInt();
        int mlpDim = META.get("mlp_dim").asInt();
        try (NDManager root = NDManager.newBaseManager()) {
            ProjectedEncoder base = encoder(spec, mlpDim, dim, root, 1);
            ProjectedEncoder momentum = encoder(spec, mlpDim, dim, root, 2);
            Mlp predictor = Mlp.create(new MlpSpec(dim, mlpDim, dim, 2, true), root, 3);
            Map<String, NDArray> init = TensorAsserts.group(G, "init", root);
            Map<String, NDArray> encoderInit = new LinkedHashMap<>();
            Map<String, NDArray> predictorInit = new LinkedHashMap<>();
            init.forEach((k, v) -> {
                if (k.startsWith("predictor.")) {
                    predictorInit.put(k.substring("predictor.".length()), v);
                } else {
                    encoderInit.put(k, v);
                }
            });
            base.loadStateDict(encoderInit, true);
            predictor.loadStateDict(predictorInit, true);
            try (io.moco4j.train.MocoV3 moco = io.moco4j.train.MocoV3.initial(base, momentum, predictor, META.get("T").asDouble());
                    AdamW adamw = new AdamW(new AdamWConfig(0.9, 0.999, META.get("eps").asDouble(),
                            META.get("weight_decay").asDouble()))) {
                for (int step = 0; step < 3; step++) {
                    JsonNode st = META.get("steps").get(step);
                    try (NDManager sm = root.newSubManager()) {
                        var res = moco.train(TensorAsserts.toNd(G.get("x1/step" + step), sm),
                                TensorAsserts.toNd(G.get("x2/step" + step), sm), step, adamw,
                                st.get("lr").asDouble(), st.get("m").asDouble());
                        System.out.printf("engine %d step %d loss %.7f (golden %.7f)%n", r, step, res.loss(), st.get("loss").asDouble());
                    }
                }
            }
        }
    }

    private static ProjectedEncoder encoder(VitSpec spec, int mlpDim, int dim, NDManager root, long seed) {
        VisionTransformer vit = VisionTransformer.create(spec, root, seed);
        Mlp projector = Mlp.create(new MlpSpec(vit.featureDim(), mlpDim, dim, 3, true), root, seed + 100);
        return new ProjectedEncoder(vit, "head.", projector, dim);
    }

    @Test
    void twice() {
        int runs = Integer.getInteger("runs", 2);
        List<List<Map<String, float[]>>> all = new ArrayList<>();
        for (int r = 0; r < runs; r++) {
            all.add(run(r));
        }
        for (int r = 1; r < runs; r++) {
            for (int s = 0; s < all.get(0).size(); s++) {
                Map<String, float[]> a = all.get(0).get(s);
                Map<String, float[]> b = all.get(r).get(s);
                int shown = 0;
                for (String k : a.keySet()) {
                    float[] x = a.get(k);
                    float[] y = b.get(k);
                    double d = 0;
                    int at = -1;
                    for (int i = 0; i < x.length; i++) {
                        double e = Math.abs((double) x[i] - y[i]);
                        if (e > d) { d = e; at = i; }
                    }
                    if (d > 0 && shown++ < 400) {
                        System.out.printf("run%d snap%d %-55s maxdiff %.3e at %d (%.6e vs %.6e)%n", r, s, k, d, at,
                                x[at], y[at]);
                    }
                }
                if (shown == 0) System.out.printf("run%d snap%d identical%n", r, s);
            }
        }
    }

    static void churn() {
        if (!Boolean.getBoolean("churn")) return;
        for (int round = 0; round < 3; round++) {
            System.gc();
            try { Thread.sleep(50); } catch (InterruptedException e) { throw new RuntimeException(e); }
            List<java.nio.ByteBuffer> keep = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(Integer.getInteger("churnSize", 4)).order(java.nio.ByteOrder.nativeOrder());
                while (b.remaining() >= 4) b.putFloat(Float.NaN);
                keep.add(b);
            }
            keep.clear();
        }
    }

    static void perturb(Map<String, NDArray> trained, int r, int step) {
        churn();
        double rel = Double.parseDouble(System.getProperty("rel", "0"));
        boolean flip = Boolean.getBoolean("flip");
        if (rel == 0 && !flip) return;
        java.util.SplittableRandom rng = new java.util.SplittableRandom(r * 1000L + step);
        try (NoGrad ignored = NoGrad.enter()) {
            trained.forEach((k, p) -> {
                try (NDArray g = p.getGradient()) {
                    float[] a = g.toFloatArray();
                    int d = a.length / 3;
                    double mx = 0; int bad = 0;
                    for (float v : a) { if (!Float.isFinite(v)) bad++; else mx = Math.max(mx, Math.abs(v)); }
                    System.out.printf("  run %d step %d grad %s max %.3e nonfinite %d%n", r, step, k, mx, bad);
                    for (int i = 0; i < a.length; i++) {
                        if (rel != 0) a[i] *= (float) (1 + rel * (rng.nextDouble() * 2 - 1));
                        boolean zero = k.endsWith(".norm.bias") && !k.contains("blocks") || (k.endsWith("attn.qkv.bias") && i >= d && i < 2 * d);
                        if (flip && zero && rng.nextBoolean()) a[i] = -a[i];
                    }
                    try (NDArray n = g.getManager().create(a, g.getShape())) {
                        g.subi(g).addi(n);
                    }
                }
            });
        }
    }

    static float[] f(NDArray a) {
        return a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
    }

    List<Map<String, float[]>> run(int r) {
        List<Map<String, float[]>> snaps = new ArrayList<>();
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
                churn();
                try (NDManager sm = root.newSubManager()) {
                    NDArray x1 = TensorAsserts.toNd(G.get("x1/step" + step), sm);
                    NDArray x2 = TensorAsserts.toNd(G.get("x2/step" + step), sm);
                    Gradients.zero(base.trainableParameters().values());
                    Gradients.zero(trainedHeads);
                    float loss;
                    Map<String, float[]> snap = new LinkedHashMap<>();
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray f1 = base.forward(x1, true);
                        NDArray f2 = base.forward(x2, true);
                        snap.put("fwd.f1", f(f1));
                        snap.put("fwd.f2", f(f2));
                        NDArray q1 = mlp(predictor, "", 2, mlp(baseHead, "head.", 3, f1));
                        NDArray q2 = mlp(predictor, "", 2, mlp(baseHead, "head.", 3, f2));
                        NDArray k1;
                        NDArray k2;
                        try (NoGrad ignored = NoGrad.enter()) {
                            double m = st.get("m").asDouble();
                            Networks.momentumUpdate(momentum, base, m);
                            emaHead(momentumHead, baseHead, m);
                            NDArray g1 = momentum.forward(x1, true);
                            NDArray g2 = momentum.forward(x2, true);
                            snap.put("fwd.k1feat", f(g1));
                            snap.put("fwd.k2feat", f(g2));
                            k1 = mlp(momentumHead, "head.", 3, g1);
                            k2 = mlp(momentumHead, "head.", 3, g2);
                        }
                        NDArray l = contrastive(q1, k2, t).add(contrastive(q2, k1, t));
                        if (Boolean.getBoolean("churnBackward")) { System.setProperty("churn", "true"); churn(); System.setProperty("churn", "false"); }
                        gc.backward(l);
                        loss = l.getFloat();
                    }
                    System.out.printf("run %d step %d loss %.7f (golden %.7f)%n", r, step, loss, st.get("loss").asDouble());
                    Map<String, NDArray> trained = new LinkedHashMap<>();
                    base.trainableParameters().forEach((k, v) -> trained.put("base_encoder." + k, v));
                    baseHead.forEach((k, v) -> { if (isTrained(k)) trained.put("base_encoder." + k, v); });
                    predictor.forEach((k, v) -> { if (isTrained(k)) trained.put("predictor." + k, v); });
                    snap.put("loss", new float[] {loss});
                    trained.forEach((k, v) -> { try (NDArray g = v.getGradient()) { snap.put("grad." + k, f(g)); } });
                    base.stateDict().forEach((k, v) -> snap.put("pre.base." + k, f(v)));
                    momentum.stateDict().forEach((k, v) -> snap.put("pre.mom." + k, f(v)));
                    perturb(trained, r, step);
                    adamw.step(trained, st.get("lr").asDouble());
                    trained.forEach((k, v) -> snap.put("post." + k, f(v)));
                    adamw.state().forEach((k, v) -> snap.put("adam." + k, f(v)));
                    snaps.add(snap);
                }
            }
        }
        return snaps;
    }

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

    private static NDArray contrastive(NDArray q, NDArray k, double t) {
        NDArray qn = q.div(q.norm(new int[] {1}, true).maximum(1e-12f));
        NDArray kn = k.div(k.norm(new int[] {1}, true).maximum(1e-12f));
        NDArray logits = qn.matMul(kn.transpose()).div((float) t);
        long n = logits.getShape().get(0);
        NDArray picked = logits.logSoftmax(1).mul(logits.getManager().eye((int) n)).sum();
        return picked.neg().div((float) n).mul((float) (2 * t));
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
