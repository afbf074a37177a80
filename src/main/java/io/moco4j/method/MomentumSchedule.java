package io.moco4j.method;

import io.moco4j.optim.LrSchedule;

/**
 * The momentum encoder's coefficient m as a function of training progress (epochs and steps 0-based, as
 * {@link io.moco4j.optim.LrSchedule}).
 */
@FunctionalInterface
public interface MomentumSchedule {

    double at(int epoch, int stepInEpoch, int stepsPerEpoch);

    /** The same m at every step (MoCo v1/v2, and moco-v3 without {@code --moco-m-cos}). */
    static MomentumSchedule constant(double m) {
        check(m);
        return (epoch, step, steps) -> {
            LrSchedule.checkProgress(epoch, step, steps);
            return m;
        };
    }

    /**
     * moco-v3's {@code adjust_moco_momentum} ({@code --moco-m-cos}, main_moco.py), set every iteration: with the
     * fractional epoch {@code e = epoch + stepInEpoch / stepsPerEpoch},
     * {@code m = 1 - 0.5 * (1 + cos(pi * e / epochs)) * (1 - m0)}, rising from {@code m0} to 1 at the end.
     */
    static MomentumSchedule cosine(double m0, int epochs) {
        check(m0);
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        return (epoch, step, steps) -> {
            LrSchedule.checkProgress(epoch, step, steps);
            double e = epoch + (double) step / steps;
            return 1. - 0.5 * (1. + Math.cos(Math.PI * e / epochs)) * (1. - m0);
        };
    }

    private static void check(double m) {
        if (!(m >= 0 && m <= 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1], got " + m);
        }
    }
}
