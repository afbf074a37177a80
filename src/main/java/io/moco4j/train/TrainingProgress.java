package io.moco4j.train;

/**
 * Where a run stands: the epoch in progress (0-based), batches of it already done, the global step
 * count, and training seconds so far. A checkpoint taken at the end of epoch E stores (E + 1, 0, ...).
 */
public record TrainingProgress(int epoch, int stepInEpoch, long globalStep, double elapsedSeconds) {
    public static final TrainingProgress START = new TrainingProgress(0, 0, 0, 0);
}
