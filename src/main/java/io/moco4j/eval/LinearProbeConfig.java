package io.moco4j.eval;

import io.moco4j.util.UserException;
import java.util.List;

/**
 * Settings of the linear probe; {@link #defaults()} is the official main_lincls.py recipe: 100 epochs,
 * batch 256, SGD lr 30, momentum 0.9, weight decay 0, lr x0.1 at epochs 60 and 80, fc weight N(0, 0.01),
 * zero bias, training views with RandomResizedCrop + flip (the caller's training transform).
 *
 * @param augment true: every epoch runs the frozen backbone on freshly augmented training views (the
 *     official protocol); false: training features are extracted once with the evaluation transform and the
 *     classifier is trained on the cached features (fast mode, much cheaper, usually slightly lower accuracy)
 * @param evalBatchSize batch size for feature extraction (no gradients, so it may be larger)
 * @param decay how the rate falls per epoch: {@link LrDecay#STEP} (x gamma at each milestone, MoCo v1/v2) or
 *     {@link LrDecay#COSINE} (half-cosine to 0 over the epochs, moco-v3's main_lincls.py; milestones unused)
 */
public record LinearProbeConfig(int epochs, int batchSize, double lr, double momentum, double weightDecay,
                                List<Integer> milestones, double gamma, double initStd, boolean augment,
                                FeatureLayer layer, int evalBatchSize, long seed, LrDecay decay) {

    /** The per-epoch learning-rate rule of the probe. */
    public enum LrDecay { STEP, COSINE }

    public LinearProbeConfig {
        milestones = List.copyOf(milestones);
        if (decay == null) {
            throw new UserException("linear probe lr decay is missing; use step or cosine");
        }
        if (epochs < 1) {
            throw new UserException("linear probe epochs must be at least 1 (got " + epochs + ")");
        }
        if (batchSize < 1 || evalBatchSize < 1) {
            throw new UserException("linear probe batch sizes must be at least 1 (got " + batchSize + ", " + evalBatchSize + ")");
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            throw new UserException("linear probe lr must be a positive number (got " + lr + "); the official value is 30");
        }
        if (momentum < 0 || weightDecay < 0 || !(gamma > 0) || !(initStd >= 0)) {
            throw new UserException("linear probe momentum, weight decay and init std must be >= 0 and gamma > 0");
        }
    }

    /** The MoCo v1/v2 probe with step decay (the form before the decay rule existed). */
    public LinearProbeConfig(int epochs, int batchSize, double lr, double momentum, double weightDecay,
                             List<Integer> milestones, double gamma, double initStd, boolean augment,
                             FeatureLayer layer, int evalBatchSize, long seed) {
        this(epochs, batchSize, lr, momentum, weightDecay, milestones, gamma, initStd, augment, layer, evalBatchSize,
                seed, LrDecay.STEP);
    }

    public static LinearProbeConfig defaults() {
        return new LinearProbeConfig(100, 256, 30.0, 0.9, 0.0, List.of(60, 80), 0.1, 0.01, true, FeatureLayer.BACKBONE, 256, 0);
    }

    /**
     * moco-v3's linear protocol for ResNet (main_lincls.py defaults, README "Linear Classification"): 90 epochs,
     * batch 1024, SGD momentum 0.9, weight decay 0, lr 0.1 * 1024 / 256 = 0.4 (its linear scaling rule), per-epoch
     * half-cosine without warm-up, fc weight N(0, 0.01) and zero bias, augmented training views (RandomResizedCrop
     * + flip), features of the frozen base encoder's backbone in eval mode.
     */
    public static LinearProbeConfig mocoV3Resnet() {
        return new LinearProbeConfig(90, 1024, io.moco4j.optim.LrSchedule.linearScaledLr(0.1, 1024), 0.9, 0.0,
                List.of(), 0.1, 0.01, true, FeatureLayer.BACKBONE, 256, 0, LrDecay.COSINE);
    }

    /**
     * moco-v3's linear protocol for ViT (CONFIG.md: {@code main_lincls.py -a vit_small --lr=3}): as
     * {@link #mocoV3Resnet()} but lr 3 * 1024 / 256 = 12, on the cls token after the final LayerNorm (the ViT's
     * {@code features}).
     */
    public static LinearProbeConfig mocoV3Vit() {
        return mocoV3Resnet().withLr(io.moco4j.optim.LrSchedule.linearScaledLr(3, 1024));
    }

    public LinearProbeConfig withEpochs(int e, List<Integer> newMilestones) {
        return new LinearProbeConfig(e, batchSize, lr, momentum, weightDecay, newMilestones, gamma, initStd, augment, layer, evalBatchSize, seed, decay);
    }

    public LinearProbeConfig withAugment(boolean a) {
        return new LinearProbeConfig(epochs, batchSize, lr, momentum, weightDecay, milestones, gamma, initStd, a, layer, evalBatchSize, seed, decay);
    }

    public LinearProbeConfig withBatchSize(int b) {
        return new LinearProbeConfig(epochs, b, lr, momentum, weightDecay, milestones, gamma, initStd, augment, layer, evalBatchSize, seed, decay);
    }

    public LinearProbeConfig withLr(double newLr) {
        return new LinearProbeConfig(epochs, batchSize, newLr, momentum, weightDecay, milestones, gamma, initStd, augment, layer, evalBatchSize, seed, decay);
    }

    public LinearProbeConfig withDecay(LrDecay d) {
        return new LinearProbeConfig(epochs, batchSize, lr, momentum, weightDecay, milestones, gamma, initStd, augment, layer, evalBatchSize, seed, d);
    }

    /**
     * main_lincls.py's {@code adjust_learning_rate}: with STEP (MoCo v1/v2) lr times gamma for every milestone
     * already reached; with COSINE (moco-v3) {@code lr * 0.5 * (1 + cos(pi * epoch / epochs))}.
     */
    public double lrAt(int epoch) {
        if (decay == LrDecay.COSINE) {
            return lr * 0.5 * (1. + Math.cos(Math.PI * epoch / epochs));
        }
        double v = lr;
        for (int m : milestones) {
            if (epoch >= m) {
                v *= gamma;
            }
        }
        return v;
    }
}
