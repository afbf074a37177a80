package io.moco4j.optim;

/**
 * Half-cosine decay {@code minLr + (base - minLr) * 0.5 * (1 + cos(pi * t / epochs))}.
 *
 * <p>Per epoch ({@code perStep} false) t is the epoch index: with {@code minLr = 0} this is exactly
 * official MoCo's {@code adjust_learning_rate} with {@code --cos}, and it equals
 * {@code CosineAnnealingLR(T_max=epochs, eta_min=minLr)} stepped once per epoch. Per step, t is the
 * fractional epoch {@code epoch + stepInEpoch / stepsPerEpoch} (as moco-v3 does), so the rate falls
 * smoothly inside each epoch.
 */
public record CosineLr(double base, int epochs, boolean perStep, double minLr) implements LrSchedule {
    @Override
    public double lr(int epoch, int stepInEpoch, int stepsPerEpoch) {
        LrSchedule.checkProgress(epoch, stepInEpoch, stepsPerEpoch);
        double t = perStep ? epoch + (double) stepInEpoch / stepsPerEpoch : epoch;
        return minLr + (base - minLr) * 0.5 * (1 + Math.cos(Math.PI * t / epochs));
    }
}
