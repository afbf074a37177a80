package io.moco4j.optim;

/** TEMPORARY placeholder until the v3core branch lands. */
public record LarsConfig(double momentum, double weightDecay, double trustCoefficient) {
    public static LarsConfig of(double momentum, double weightDecay) {
        return new LarsConfig(momentum, weightDecay, 0.001);
    }
}
