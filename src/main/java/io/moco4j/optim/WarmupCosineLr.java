package io.moco4j.optim;

/**
 * moco-v3's {@code adjust_learning_rate} (main_moco.py), set every iteration: with the fractional epoch
 * {@code e = epoch + stepInEpoch / stepsPerEpoch},
 * <pre>
 *   e &lt; warmup:  base * e / warmup                                           (linear from 0; the first step has rate 0)
 *   otherwise:    base * 0.5 * (1 + cos(pi * (e - warmup) / (epochs - warmup)))
 * </pre>
 * {@code base} is the already scaled rate ({@code base_lr * batch / 256}, see {@link LrSchedule#linearScaledLr}).
 * Unlike {@link LinearWarmupLr}, which wraps another schedule and starts at {@code 1 / W}, this is one formula over
 * the whole run, exactly as moco-v3 writes it (same operation order, so the values agree to the last bit or so).
 */
public record WarmupCosineLr(double base, int warmupEpochs, int epochs) implements LrSchedule {

    public WarmupCosineLr {
        if (!(base >= 0) || Double.isInfinite(base)) {
            throw new IllegalArgumentException("base learning rate must be finite and >= 0, got " + base);
        }
        if (warmupEpochs < 0 || epochs < 1 || warmupEpochs >= epochs) {
            throw new IllegalArgumentException("need 0 <= warm-up epochs < epochs, got warm-up " + warmupEpochs
                    + " of " + epochs);
        }
    }

    @Override
    public double lr(int epoch, int stepInEpoch, int stepsPerEpoch) {
        LrSchedule.checkProgress(epoch, stepInEpoch, stepsPerEpoch);
        double e = epoch + (double) stepInEpoch / stepsPerEpoch;
        if (e < warmupEpochs) {
            return base * e / warmupEpochs;
        }
        return base * 0.5 * (1. + Math.cos(Math.PI * (e - warmupEpochs) / (epochs - warmupEpochs)));
    }
}
