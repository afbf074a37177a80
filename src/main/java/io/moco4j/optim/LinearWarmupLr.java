package io.moco4j.optim;

/**
 * A linear warm-up over the first {@code warmupEpochs} epochs, per step, followed by {@code after}
 * whose clock starts when the warm-up ends.
 *
 * <p>With {@code g} the 0-based global step and {@code W = warmupEpochs * stepsPerEpoch}, step g < W
 * uses {@code after.lr(0, 0, spe) * (g + 1) / W}: the first step already gets a small positive rate
 * and the last warm-up step reaches the rate the following schedule starts with, the convention of
 * lightly's {@code CosineWarmupScheduler} ({@code (step + 1) / warmup}). (moco-v3 uses {@code g / W},
 * i.e. a zero rate on the very first step.) From step W on, the rate is
 * {@code after.lr(epoch - warmupEpochs, stepInEpoch, spe)}, so a cosine wrapped here should span the
 * remaining {@code epochs - warmupEpochs} epochs, as in moco-v3 and lightly; {@link LrScheduleConfig}
 * builds it that way.
 */
public record LinearWarmupLr(LrSchedule after, int warmupEpochs) implements LrSchedule {

    public LinearWarmupLr {
        if (warmupEpochs < 0) {
            throw new IllegalArgumentException("warm-up epochs must be >= 0, got " + warmupEpochs);
        }
    }

    @Override
    public double lr(int epoch, int stepInEpoch, int stepsPerEpoch) {
        LrSchedule.checkProgress(epoch, stepInEpoch, stepsPerEpoch);
        if (epoch >= warmupEpochs) {
            return after.lr(epoch - warmupEpochs, stepInEpoch, stepsPerEpoch);
        }
        long warmupSteps = (long) warmupEpochs * stepsPerEpoch;
        long step = (long) epoch * stepsPerEpoch + stepInEpoch;
        return after.lr(0, 0, stepsPerEpoch) * (step + 1) / warmupSteps;
    }
}
