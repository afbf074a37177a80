package io.moco4j.dist;

import ai.djl.ndarray.NDArray;

/**
 * The keys of the global batch, for the queue: the official {@code concat_all_gather} before
 * {@code _dequeue_and_enqueue}, so every rank enqueues the same W x B keys in rank order and the queues stay
 * identical. The gathered keys carry no gradient (keys never do in MoCo).
 *
 * <p>For in-batch contrast (MoCo v3) the same gather gives the other ranks' keys as negatives; this rank's
 * positives then sit at {@link #labelOffset(int)} in the gathered batch (the official {@code labels + N * rank}).
 */
public final class KeyGather {
    private final Collectives collectives;

    public KeyGather(Collectives collectives) {
        this.collectives = collectives;
    }

    /** Every rank's keys (B x dim each) concatenated in rank order, on the keys' device and manager. */
    public NDArray all(NDArray localKeys) {
        return collectives.size() == 1 ? localKeys : collectives.allGather(localKeys);
    }

    /** Index of this rank's first key in the gathered batch, for a per-rank batch of {@code localBatch}. */
    public long labelOffset(int localBatch) {
        return (long) collectives.rank() * localBatch;
    }
}
