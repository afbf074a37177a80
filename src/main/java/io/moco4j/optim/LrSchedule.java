package io.moco4j.optim;

import java.util.List;

/**
 * A learning rate as a function of training progress. Epochs and steps are 0-based; the value for
 * {@code (epoch, stepInEpoch)} is the rate used by that step's update. Schedules that change per epoch
 * ignore {@code stepInEpoch}.
 */
@FunctionalInterface
public interface LrSchedule {

    double lr(int epoch, int stepInEpoch, int stepsPerEpoch);

    /** The linear scaling rule (Goyal et al. 2017) as MoCo states it: {@code base * batch / 256}. */
    static double linearScaledLr(double base, int batchSize) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        return base * batchSize / 256.0;
    }

    static LrSchedule constant(double lr) {
        return new ConstantLr(lr);
    }

    /** {@code torch.optim.lr_scheduler.MultiStepLR}; {@code multiStep(0.03, List.of(120, 160), 0.1)} is official MoCo's. */
    static LrSchedule multiStep(double base, List<Integer> milestones, double gamma) {
        return new MultiStepLr(base, milestones, gamma, 0);
    }

    /** Half-cosine from {@code base} at epoch 0 to {@code minLr} at {@code epochs}; see {@link CosineLr}. */
    static LrSchedule cosine(double base, int epochs, boolean perStep, double minLr) {
        return new CosineLr(base, epochs, perStep, minLr);
    }

    /** moco-v3's per-iteration linear warm-up from 0 then half-cosine to 0; see {@link WarmupCosineLr}. */
    static LrSchedule warmupCosine(double base, int warmupEpochs, int epochs) {
        return new WarmupCosineLr(base, warmupEpochs, epochs);
    }

    /** This schedule preceded by a linear warm-up; see {@link LinearWarmupLr}. */
    default LrSchedule afterWarmup(int warmupEpochs) {
        return new LinearWarmupLr(this, warmupEpochs);
    }

    static void checkProgress(int epoch, int stepInEpoch, int stepsPerEpoch) {
        if (epoch < 0 || stepsPerEpoch < 1 || stepInEpoch < 0 || stepInEpoch >= stepsPerEpoch) {
            throw new IllegalArgumentException("invalid progress: epoch " + epoch + ", step " + stepInEpoch
                    + " of " + stepsPerEpoch + " steps per epoch");
        }
    }
}
