package io.moco4j.dist;

/**
 * The bound of a "ranks against one process" check inside a forked rank: the data-parallel result may differ from the
 * single-process one by {@link MocoV3MirroredStepTest#NOISE_FACTOR} times a noise floor measured in the same run (the
 * single-process computation on the batch in another order, which is the same in exact arithmetic), and never less
 * than a stated ulp-level floor (a reordering that happens to be bit-exact gives a floor of zero, which is no floor).
 * Shared by {@link V2StepCheck} and {@link V3StepCheck}; why a factor of 10 and the measurements behind it:
 * {@link MocoV3MirroredStepTest}.
 */
final class NoiseFloor {
    private NoiseFloor() {}

    /** Fails the rank unless {@code diff <= max(NOISE_FACTOR x noise, floor)}; returns {@code diff} for the printout. */
    static float expectWithin(String what, double diff, double noise, double floor) {
        double bound = Math.max(MocoV3MirroredStepTest.NOISE_FACTOR * noise, floor);
        MpiRankMain.expect(diff <= bound, what + ": the data-parallel step differs from one process by " + diff
                + ", beyond max(" + MocoV3MirroredStepTest.NOISE_FACTOR + " x the measured noise floor " + noise
                + ", " + floor + ")");
        return (float) diff;
    }
}
