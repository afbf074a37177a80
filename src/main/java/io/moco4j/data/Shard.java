package io.moco4j.data;

/**
 * One rank's part of every global batch in data-parallel training. Global batch {@code s} of an epoch is the
 * slice {@code [s * G, (s + 1) * G)} of the epoch's order (G = ranks x per-rank batch B, the last partial
 * global batch dropped), and rank {@code r} takes its block {@code [s * G + r * B, s * G + (r + 1) * B)}.
 * The union over ranks is exactly the batch one process would take with batch size G, so the ranks see
 * disjoint data, take the same number of steps, and the run sees the same global batches whatever the number
 * of ranks. (PyTorch's DistributedSampler deals the order out round-robin instead; each of its global batches
 * holds the same images, in another split over the ranks.)
 */
public record Shard(int rank, int ranks) {
    public static final Shard WHOLE = new Shard(0, 1);

    public Shard {
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " outside a job of " + ranks + " ranks");
        }
    }

    /** Steps per epoch: whole global batches only. */
    public int steps(int datasetSize, int perRankBatch) {
        return datasetSize / (perRankBatch * ranks);
    }

    /** Position in the epoch's order where this rank's batch of step {@code step} starts. */
    public int batchStart(int step, int perRankBatch) {
        return (step * ranks + rank) * perRankBatch;
    }
}
