package io.moco4j.optim;

import io.moco4j.util.UserException;

/**
 * Hyper-parameters of {@link Sgd}, with the meaning and the checks of {@code torch.optim.SGD}
 * (the learning rate is not here: it comes from an {@link LrSchedule} at every step).
 *
 * @param momentum    momentum factor, {@code >= 0}; 0 disables the momentum buffers
 * @param weightDecay L2 penalty added to the gradient ("coupled" decay, as in torch), {@code >= 0}
 * @param dampening   dampening of the gradient's contribution to the momentum buffer
 * @param nesterov    Nesterov momentum; needs {@code momentum > 0} and {@code dampening == 0}
 */
public record SgdConfig(double momentum, double weightDecay, double dampening, boolean nesterov) {

    public SgdConfig {
        if (!(momentum >= 0) || Double.isInfinite(momentum)) {
            throw new UserException("SGD momentum " + momentum + " is invalid; use a value >= 0 such as 0.9");
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new UserException("SGD weight decay " + weightDecay + " is invalid; use a value >= 0 such as 1e-4");
        }
        if (!Double.isFinite(dampening)) {
            throw new UserException("SGD dampening " + dampening + " is invalid; use a finite value, normally 0");
        }
        if (nesterov && (momentum <= 0 || dampening != 0)) {
            throw new UserException("Nesterov SGD needs momentum > 0 and dampening 0 (got momentum " + momentum
                    + ", dampening " + dampening + "); set them or turn nesterov off");
        }
    }

    /** Plain momentum SGD without dampening or Nesterov, as the official MoCo code builds it. */
    public static SgdConfig of(double momentum, double weightDecay) {
        return new SgdConfig(momentum, weightDecay, 0, false);
    }
}
