package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The data-parallel MoCo v3 step (SyncBN, gathered keys, offset labels, averaged gradients) in one JVM: on
 * {@link MirroredRanks} (a 2-rank job whose other rank holds the same images) the step on X must equal the
 * single-process step on [X; X]. The forked 2-rank test ({@code MpiJobTest}, {@link V3StepCheck}) covers distinct
 * data on real ranks; this one runs in seconds.
 *
 * <p>The bounds are measured in the test, not fixed: the same single-process steps on the batch in another order
 * ([X'; X'], X' = X reversed in both views: every BatchNorm statistic, mean and sum is the same in exact arithmetic)
 * give the float noise floor of this computation on this CPU and thread count, for the loss and for every weight.
 * LARS amplifies rounding from step to step, so the floor grows: measured here (AMD EPYC, 1 and 2 threads) the
 * reordered run's loss moved by 2e-6, 7e-6 and 3e-4 over the ResNet's three steps, the data-parallel run's by 4e-6,
 * 8e-7 and 8e-5 (ViT: 1.8e-5 against 3.0e-5 over two steps). A fixed 1e-4 held on one CPU and failed on another. The
 * data-parallel path reorders more sums than a permutation does (SyncBN statistics from all-reduced sums, the
 * cut-based backward), so it may differ by {@link #NOISE_FACTOR} times the floor; a real error (a wrong offset, a
 * rank's keys missing, a detached SyncBN backward) moves the loss by 1e-2 and the weights by 10% of their change or
 * more from the first step (MpiJobTest's detach check).
 */
class MocoV3MirroredStepTest {
    static final double NOISE_FACTOR = 10;
    /** Below this relative difference two float32 values are a few ulps apart (and a zero floor is no floor). */
    static final double ULP_FLOOR = 1e-6;
    /**
     * For weights (difference relative to their change) where the reversed batch happens to give bit-identical results
     * (seen in the forked 2-rank run): the order of the smallest non-zero weight floors measured here, 7.5e-5 (ViT
     * query encoder, 2 threads) and 9.8e-5 (ResNet momentum encoder).
     */
    static final double WEIGHT_FLOOR = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"resnet", "vit"})
    void aStepOnMirroredRanksEqualsTheSingleProcessStepOnTheDoubledBatch(String backbone) {
        MocoConfig cfg = V3StepCheck.config(backbone);
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
            dist.distribute(new MirroredRanks());
            Map<String, float[]> q0 = V3StepCheck.snapshot(single.encoderQ().stateDict());
            Map<String, float[]> p0 = V3StepCheck.snapshot(single.predictor().stateDict());
            double lossNoise = 0;
            double lossDiff = 0;
            for (int s = 0; s < V3StepCheck.steps(backbone); s++) {
                MomentumContrast.StepResult d;
                MomentumContrast.StepResult o;
                MomentumContrast.StepResult r;
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = V3StepCheck.views(step, s);
                    NDArray x1 = v[0].get("0:" + V3StepCheck.B);
                    NDArray x2 = v[1].get("0:" + V3StepCheck.B);
                    NDArray y1 = x1.flip(0);
                    NDArray y2 = x2.flip(0);
                    d = dist.train(x1, x2, s, optDist, V3StepCheck.LR, V3StepCheck.M);
                    o = single.train(x1.concat(x1), x2.concat(x2), s, optSingle, V3StepCheck.LR, V3StepCheck.M);
                    r = reordered.train(y1.concat(y1), y2.concat(y2), s, optReordered, V3StepCheck.LR, V3StepCheck.M);
                }
                lossNoise = Math.max(lossNoise, Math.abs(r.loss() - o.loss()) / Math.abs(o.loss()));
                lossDiff = Math.max(lossDiff, Math.abs(d.loss() - o.loss()) / Math.abs(o.loss()));
            }
            assertWithinNoise("loss", lossDiff, lossNoise, ULP_FLOOR);
            double none = Double.POSITIVE_INFINITY; // measure, then bound below
            assertWithinNoise("query encoder",
                    V3StepCheck.compare("query encoder", dist.encoderQ().stateDict(), single.encoderQ().stateDict(), q0, none),
                    V3StepCheck.compare("query encoder", reordered.encoderQ().stateDict(), single.encoderQ().stateDict(), q0, none));
            assertWithinNoise("predictor",
                    V3StepCheck.compare("predictor", dist.predictor().stateDict(), single.predictor().stateDict(), p0, none),
                    V3StepCheck.compare("predictor", reordered.predictor().stateDict(), single.predictor().stateDict(), p0, none));
            assertWithinNoise("momentum encoder",
                    V3StepCheck.compare("momentum encoder", dist.encoderK().stateDict(), single.encoderK().stateDict(), q0, none),
                    V3StepCheck.compare("momentum encoder", reordered.encoderK().stateDict(), single.encoderK().stateDict(), q0, none));
            assertWithinNoise("optimizer state",
                    V3StepCheck.compare("optimizer state", optDist.state(), optSingle.state(), null, none),
                    V3StepCheck.compare("optimizer state", optReordered.state(), optSingle.state(), null, none));
        }
    }

    private static void assertWithinNoise(String what, double diff, double noise) {
        assertWithinNoise(what, diff, noise, WEIGHT_FLOOR);
    }

    private static void assertWithinNoise(String what, double diff, double noise, double floor) {
        double bound = Math.max(NOISE_FACTOR * noise, floor);
        System.out.printf(Locale.ROOT, "v3 mirrored %s: data-parallel %.3g, reordered (noise floor) %.3g%n", what, diff, noise);
        assertTrue(diff <= bound, String.format(Locale.ROOT, "%s: the data-parallel step differs from one process by %.3g,"
                + " beyond %s x the measured noise floor %.3g", what, diff, NOISE_FACTOR, noise));
    }
}
