package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import io.moco4j.train.StateSync;
import java.util.Locale;
import java.util.Map;

/**
 * Full MoCo v3 training steps on 2 ranks x B images against the single-process steps on the same 2B images, as
 * {@link io.moco4j.train.Pretraining} builds the model and optimizer ({@link MethodFactory#fresh}, {@link Optimizers#from}).
 * Runs inside each rank of the forked job.
 *
 * <p>The equivalence (moco-v3 main_moco.py with SyncBN and DDP): rank r holds images [rB, (r+1)B) of the global
 * batch; with SyncBN every BatchNorm normalises over all 2B (in both encoders and the MLPs), and the keys of all
 * 2B images are every query's candidates, positives at rank x B + i. The single-process loss over 2B queries (a mean)
 * is then the mean of the two ranks' losses (means over B), and its gradient the average of the ranks' gradients.
 * No interleaving is needed (unlike v2's per-rank BN): SyncBN has no per-rank grouping.
 */
final class V3StepCheck {
    static final int B = 4;
    /**
     * Steps compared. The ViT runs 2: its final LayerNorm bias has a true gradient of zero (the projector's BatchNorm
     * removes any shift shared by the batch), so both runs update it by float noise, which then spreads; after 3
     * steps the losses differ by ~3e-4 (measured), after 2 by ~1e-5.
     */
    static int steps(String backbone) {
        return backbone.equals("vit") ? 2 : 3;
    }

    /**
     * In bf16 one step: bf16 rounding makes the one-process step on the reordered batch drift from the original by more
     * than the weights move within 3 steps (measured: 1.2-1.5x their change at step 3), which would leave no room to
     * tell a broken SyncBN or gather from rounding. After the first step the floor is still tight.
     */
    static int steps(String backbone, io.moco4j.precision.Precision precision) {
        return precision == io.moco4j.precision.Precision.FP32 ? steps(backbone) : 1;
    }
    /**
     * Small enough that float noise is not amplified: LARS updates 1-d parameters (BN gamma/beta) by plain momentum
     * SGD, and at lr 0.8 their large gradients turn 1e-7 differences into 1e-3 within two steps.
     */
    static final double LR = 0.01;
    static final double M = 0.9;

    private V3StepCheck() {}

    static MocoConfig config(String backbone) {
        ConfigLoader c = ConfigLoader.defaults();
        if (backbone.equals("vit")) {
            // a 2-block ViT of width 32 on 16 px images in patches of 4, MoCo_ViT's 3-layer projector narrowed
            c = c.preset("cpu-vit").set("model.arch=vit_tiny").set("model.vit_width=32").set("model.vit_depth=2")
                    .set("model.vit_heads=2").set("model.patch_size=4").set("model.head_hidden=32")
                    .set("model.predictor_hidden=32").set("model.dim=8").set("train.image_size=16")
                    // LARS, not the preset's AdamW: AdamW's first update is lr x sign(g), so gradients at float-noise
                    // level flip whole updates and no float tolerance on the weights would hold
                    .set("optim.name=lars").set("optim.weight_decay=1e-6");
        } else {
            c = c.preset("cpu-small-v3").set("model.width=0.125").set("model.head_hidden=32").set("model.dim=8")
                    .set("model.predictor_hidden=32");
        }
        return c.set("train.batch_size=" + 2 * B).set("moco.momentum=" + M).build();
    }

    /** The views of step {@code s}: 2B images, identical on every rank. */
    static NDArray[] views(NDManager m, int s) {
        NDArray base = m.arange(2 * B * 3 * 16 * 16f).reshape(2 * B, 3, 16, 16);
        return new NDArray[] {base.mul(0.013f + s).sin(), base.mul(0.029f + s).cos().mul(1 + 0.1f * s)};
    }

    static void run(OpenMpi c, String backbone) {
        run(c, backbone, io.moco4j.precision.Precision.FP32);
    }

    /**
     * The same check with the encoders' and heads' forwards in {@code precision} (issue 21): in bf16 SyncBN's
     * statistics are all-reduced from bf16 activations under autocast, the keys of both ranks gathered, and the ranks'
     * gradients averaged in float32; the reversed-batch floor is measured in the same precision, so the bound is as
     * wide as bf16 makes the one-process step itself, no wider.
     */
    static void run(OpenMpi c, String backbone, io.moco4j.precision.Precision precision) {
        int r = c.rank();
        MocoConfig cfg = config(backbone);
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast distMethod = MethodFactory.fresh(cfg, root);
             MomentumContrast singleMethod = MethodFactory.fresh(cfg, root);
             MomentumContrast reorderedMethod = MethodFactory.fresh(cfg, root);
             Optimizer optDist = Optimizers.from(cfg);
             Optimizer optSingle = Optimizers.from(cfg);
             Optimizer optReordered = Optimizers.from(cfg)) {
            MocoV3 dist = (MocoV3) distMethod;
            MocoV3 single = (MocoV3) singleMethod;
            MocoV3 reordered = (MocoV3) reorderedMethod;
            for (MomentumContrast m : new MomentumContrast[] {dist, single, reordered}) {
                m.setPrecision(precision);
            }
            dist.distribute(c);
            StateSync.startTogether(c, dist);
            Map<String, float[]> q0 = snapshot(single.encoderQ().stateDict());
            Map<String, float[]> p0 = snapshot(single.predictor().stateDict());
            String mine = r * B + ":" + (r + 1) * B;
            double worstLoss = 0;
            double lossNoise = 0;
            for (int s = 0; s < steps(backbone, precision); s++) {
                MomentumContrast.StepResult d;
                MomentumContrast.StepResult o;
                MomentumContrast.StepResult x;
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = views(step, s);
                    d = dist.train(v[0].get(mine), v[1].get(mine), s, optDist, LR, M);
                    o = single.train(v[0], v[1], s, optSingle, LR, M);
                    // the noise floor: the same single-process step on the batch in reverse order
                    x = reordered.train(v[0].flip(0), v[1].flip(0), s, optReordered, LR, M);
                }
                worstLoss = Math.max(worstLoss, Math.abs(d.loss() - o.loss()) / Math.abs(o.loss()));
                lossNoise = Math.max(lossNoise, Math.abs(x.loss() - o.loss()) / Math.abs(o.loss()));
                // a near-tie may flip in bf16: allow what the reordered one-process step itself flips
                double acc1Noise = Math.max(1e-3, Math.abs(x.acc1() - o.acc1()) + 1e-3);
                MpiRankMain.expect(Math.abs(d.acc1() - o.acc1()) < acc1Noise, "step " + s + ": acc1 " + d.acc1() + " vs "
                        + o.acc1() + " (reordered: " + x.acc1() + ")");
            }
            double none = Double.POSITIVE_INFINITY;
            withinNoise("loss", worstLoss, lossNoise, MocoV3MirroredStepTest.ULP_FLOOR);
            float wq = withinNoise("query encoder",
                    compare("query encoder", dist.encoderQ().stateDict(), single.encoderQ().stateDict(), q0, none),
                    compare("query encoder", reordered.encoderQ().stateDict(), single.encoderQ().stateDict(), q0, none));
            float wp = withinNoise("predictor",
                    compare("predictor", dist.predictor().stateDict(), single.predictor().stateDict(), p0, none),
                    compare("predictor", reordered.predictor().stateDict(), single.predictor().stateDict(), p0, none));
            float wk = withinNoise("momentum encoder",
                    compare("momentum encoder", dist.encoderK().stateDict(), single.encoderK().stateDict(), q0, none),
                    compare("momentum encoder", reordered.encoderK().stateDict(), single.encoderK().stateDict(), q0, none));
            float wo = withinNoise("optimizer state",
                    compare("optimizer state", optDist.state(), optSingle.state(), null, none),
                    compare("optimizer state", optReordered.state(), optSingle.state(), null, none));
            System.out.printf(Locale.ROOT, "v3 %s %s step rank %d: loss %.3g (relative, noise floor %.3g), weights relative to"
                    + " their change: query %.3g, predictor %.3g, momentum %.3g, optimizer %.3g%n", backbone, precision, r, worstLoss,
                    lossNoise, wq, wp, wk, wo);
            MpiRankMain.ok(c, "v3-" + backbone + (precision == io.moco4j.precision.Precision.FP32 ? "" : "-" + precision)
                    + "-steps-equal-single-process");
        }
    }

    /**
     * The data-parallel result may differ from one process by {@link MocoV3MirroredStepTest#NOISE_FACTOR} times the
     * measured noise floor (why, and the measurements: {@link MocoV3MirroredStepTest}).
     */
    static float withinNoise(String what, double diff, double noise) {
        return withinNoise(what, diff, noise, MocoV3MirroredStepTest.WEIGHT_FLOOR);
    }

    static float withinNoise(String what, double diff, double noise, double floor) {
        return NoiseFloor.expectWithin(what, diff, noise, floor);
    }

    /** Weight agreement, relative to how far training moved each tensor (the detach approximation misses by ~10%+). */
    static final double UPDATE_TOL = 1e-2;

    static Map<String, float[]> snapshot(Map<String, NDArray> state) {
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        state.forEach((k, v) -> out.put(k, v.toType(DataType.FLOAT32, false).toFloatArray()));
        return out;
    }

    /**
     * Worst difference between the two runs' tensors relative to the single-process run's own change from
     * {@code initial} (null: relative to the values, for state that starts at zero); fails above {@link #UPDATE_TOL}.
     */
    static float compare(String what, Map<String, NDArray> got, Map<String, NDArray> want, Map<String, float[]> initial) {
        return compare(what, got, want, initial, UPDATE_TOL);
    }

    /** As {@link #compare(String, Map, Map, Map)} with the bound {@code tolerance} (infinite: measure only). */
    static float compare(String what, Map<String, NDArray> got, Map<String, NDArray> want, Map<String, float[]> initial,
                         double tolerance) {
        MpiRankMain.expect(got.keySet().equals(want.keySet()), what + ": keys differ");
        float worst = 0;
        for (Map.Entry<String, NDArray> e : want.entrySet()) {
            if (e.getKey().equals("norm.bias")) {
                continue; // the ViT's final LayerNorm bias: zero true gradient, trained by float noise (see steps())
            }
            float[] g = got.get(e.getKey()).toType(DataType.FLOAT32, false).toFloatArray();
            float[] w = e.getValue().toType(DataType.FLOAT32, false).toFloatArray();
            float[] base = initial == null ? new float[w.length] : initial.get(e.getKey());
            float diff = 0;
            float moved = 0;
            for (int i = 0; i < w.length; i++) {
                diff = Math.max(diff, Math.abs(g[i] - w[i]));
                moved = Math.max(moved, Math.abs(w[i] - base[i]));
            }
            // the floor: tensors that barely move (running means of ~1e-8) compare by absolute float noise
            float rel = diff <= 1e-6f ? 0 : diff / Math.max(moved, 1e-12f);
            worst = Math.max(worst, rel);
            MpiRankMain.expect(rel <= tolerance, what + " " + e.getKey() + " differs from one process by " + diff
                    + ", " + rel + " of its change " + moved);
        }
        return worst;
    }
}
