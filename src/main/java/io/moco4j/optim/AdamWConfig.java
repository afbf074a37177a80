package io.moco4j.optim;

import io.moco4j.util.UserException;

/**
 * Hyper-parameters of {@link AdamW}, with the meaning and checks of {@code torch.optim.AdamW} (the learning rate
 * comes from an {@link LrSchedule} at every step; {@code amsgrad} and {@code maximize} are not offered: MoCo v3
 * uses neither).
 *
 * @param beta1       decay of the running mean of gradients, in [0, 1)
 * @param beta2       decay of the running mean of squared gradients, in [0, 1)
 * @param eps         added to the denominator, {@code >= 0}
 * @param weightDecay decoupled decay: every step multiplies each trained parameter by {@code 1 - lr * weightDecay}
 */
public record AdamWConfig(double beta1, double beta2, double eps, double weightDecay) {

    public AdamWConfig {
        if (!(beta1 >= 0 && beta1 < 1)) {
            throw new UserException("AdamW beta1 " + beta1 + " is invalid; use a value in [0, 1) such as 0.9");
        }
        if (!(beta2 >= 0 && beta2 < 1)) {
            throw new UserException("AdamW beta2 " + beta2 + " is invalid; use a value in [0, 1) such as 0.999");
        }
        if (!(eps >= 0) || Double.isInfinite(eps)) {
            throw new UserException("AdamW eps " + eps + " is invalid; use a small value >= 0 such as 1e-8");
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new UserException("AdamW weight decay " + weightDecay + " is invalid; use a value >= 0 such as 0.1");
        }
    }

    /** torch's defaults (betas 0.9 / 0.999, eps 1e-8) with {@code weightDecay}; MoCo v3's ViT recipes use 0.1. */
    public static AdamWConfig of(double weightDecay) {
        return new AdamWConfig(0.9, 0.999, 1e-8, weightDecay);
    }
}
