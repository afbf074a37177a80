package io.moco4j.optim;

import io.moco4j.util.UserException;

/**
 * Hyper-parameters of {@link Lars}, with moco-v3's defaults ({@code moco/optimizer.py}); the learning rate comes
 * from an {@link LrSchedule} at every step.
 *
 * @param momentum          momentum of the {@code mu} buffer, in [0, 1); moco-v3 uses 0.9
 * @param weightDecay       L2 penalty added to the gradient of parameters with two or more dimensions, {@code >= 0}
 *                          (moco-v3 ResNet: 1e-6)
 * @param trustCoefficient  scales each such update to {@code trust * |p|} before momentum, {@code > 0}; moco-v3 0.001
 */
public record LarsConfig(double momentum, double weightDecay, double trustCoefficient) {
    public static final double DEFAULT_MOMENTUM = 0.9;
    public static final double DEFAULT_TRUST_COEFFICIENT = 0.001;

    public LarsConfig {
        if (!(momentum >= 0 && momentum < 1)) {
            throw new UserException("LARS momentum " + momentum + " is invalid; use a value in [0, 1) such as 0.9");
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new UserException("LARS weight decay " + weightDecay + " is invalid; use a value >= 0 such as 1e-6");
        }
        if (!(trustCoefficient > 0) || Double.isInfinite(trustCoefficient)) {
            throw new UserException("LARS trust coefficient " + trustCoefficient
                    + " is invalid; use a positive value such as 0.001");
        }
    }

    /** moco-v3's LARS: momentum 0.9, trust coefficient 0.001 and the given weight decay. */
    public static LarsConfig mocoV3(double weightDecay) {
        return new LarsConfig(DEFAULT_MOMENTUM, weightDecay, DEFAULT_TRUST_COEFFICIENT);
    }
}
