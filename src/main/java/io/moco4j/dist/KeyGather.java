package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import io.moco4j.data.Shard;

/**
 * The keys of the global batch, for the queue: the official {@code concat_all_gather} before
 * {@code _dequeue_and_enqueue}, so every rank enqueues the same W x B keys and the queues stay identical. The
 * gathered keys carry no gradient (keys never do in MoCo). They come in global batch order (the order one
 * process would enqueue them): rank order for blocks, regrouped when ranks hold BatchNorm groups
 * ({@link io.moco4j.data.Shard}).
 *
 * <p>For in-batch contrast (MoCo v3, blocks) the same gather gives the other ranks' keys as negatives; this rank's
 * positives then sit at {@link #labelOffset(int)} in the gathered batch (the official {@code labels + N * rank}).
 */
public final class KeyGather {
    private final Collectives collectives;
    private final int groups;

    public KeyGather(Collectives collectives) {
        this(collectives, 0);
    }

    /** @param groups BatchNorm groups over the global batch the ranks hold ({@link io.moco4j.data.Shard#groups()}); 0 for blocks */
    public KeyGather(Collectives collectives, int groups) {
        this.collectives = collectives;
        this.groups = groups;
    }

    /**
     * Every rank's keys (B x dim each) in global batch order, on the keys' device and manager: rank order for blocks
     * (MoCo v3, whose positives then sit at {@link #labelOffset}), regrouped when ranks hold BatchNorm groups.
     */
    public NDArray all(NDArray localKeys) {
        if (collectives.size() == 1) {
            return localKeys;
        }
        NDArray gathered = collectives.allGather(localKeys);
        if (groups == 0) {
            return gathered;
        }
        long[] row = gatheredRow(collectives.size(), groups, Math.toIntExact(localKeys.getShape().get(0)));
        NDArray ordered = gathered.get(localKeys.getManager().create(row));
        gathered.close();
        return ordered;
    }

    /**
     * {@code row[p]}: the row of a rank-order gather of {@code local} rows per rank that holds global batch position p,
     * when the ranks hold the positions of {@code groups} BatchNorm groups ({@link Shard#position}; 0 for blocks).
     */
    public static long[] gatheredRow(int ranks, int groups, int local) {
        long[] row = new long[ranks * local];
        for (int r = 0; r < ranks; r++) {
            Shard s = new Shard(r, ranks, groups);
            for (int l = 0; l < local; l++) {
                row[s.position(l, local)] = (long) r * local + l;
            }
        }
        return row;
    }

    /** Index of this rank's first key in the gathered batch, for a per-rank batch of {@code localBatch}. */
    public long labelOffset(int localBatch) {
        return (long) collectives.rank() * localBatch;
    }
}
