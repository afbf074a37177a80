package io.moco4j.optim;

/** The same rate at every step. */
public record ConstantLr(double lr) implements LrSchedule {
    @Override
    public double lr(int epoch, int stepInEpoch, int stepsPerEpoch) {
        LrSchedule.checkProgress(epoch, stepInEpoch, stepsPerEpoch);
        return lr;
    }
}
