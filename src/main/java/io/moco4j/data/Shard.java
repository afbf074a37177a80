package io.moco4j.data;

import java.util.Arrays;

/**
 * One rank's part of every global batch in data-parallel training. Global batch {@code s} of an epoch is the
 * slice {@code [s * G, (s + 1) * G)} of the epoch's order (G = ranks x per-rank batch B, the last partial
 * global batch dropped). The union over ranks is exactly the batch one process would take with batch size G, so
 * the ranks see disjoint data, take the same number of steps, and the run sees the same global batches whatever
 * the number of ranks. (PyTorch's DistributedSampler deals the order out round-robin instead; each of its global
 * batches holds the same images, in another split over the ranks.)
 *
 * <p>Which positions of the global batch a rank takes:
 * <ul>
 *   <li>{@code groups == 0}: a block, rank {@code r} takes {@code [r * B, (r + 1) * B)}.</li>
 *   <li>{@code groups == S} (split BatchNorm, S a multiple of the ranks): one process normalises position p in group
 *       {@code p mod S}; rank r takes the positions of groups {@code [r * S / ranks, (r + 1) * S / ranks)}, in order,
 *       so that its own S / ranks splits see exactly the images of those groups (its local position l is in local
 *       group {@code l mod (S / ranks)}).</li>
 * </ul>
 */
public record Shard(int rank, int ranks, int groups) {
    public static final Shard WHOLE = new Shard(0, 1);

    public Shard {
        if (ranks < 1 || rank < 0 || rank >= ranks) {
            throw new IllegalArgumentException("rank " + rank + " outside a job of " + ranks + " ranks");
        }
        if (groups < 0 || groups % ranks != 0) {
            throw new IllegalArgumentException(groups + " BatchNorm groups do not divide over " + ranks + " ranks");
        }
    }

    /** A block of every global batch. */
    public Shard(int rank, int ranks) {
        this(rank, ranks, 0);
    }

    /** Steps per epoch: whole global batches only. */
    public int steps(int datasetSize, int perRankBatch) {
        return datasetSize / (perRankBatch * ranks);
    }

    /** Position in the epoch's order where this rank's batch of step {@code step} starts (block layout). */
    public int batchStart(int step, int perRankBatch) {
        return (step * ranks + rank) * perRankBatch;
    }

    /** Position in the global batch of this rank's {@code local}-th image. */
    public int position(int local, int perRankBatch) {
        if (groups == 0) {
            return rank * perRankBatch + local;
        }
        int mine = groups / ranks;
        return (local / mine) * groups + rank * mine + local % mine;
    }

    /**
     * Data set indices of this rank's batch of step {@code step} from the epoch's {@code order}; one process without
     * drop-last gets the short last batch.
     */
    public int[] batch(int[] order, int step, int perRankBatch) {
        if (groups == 0) {
            int from = batchStart(step, perRankBatch);
            return Arrays.copyOfRange(order, from, Math.min(order.length, from + perRankBatch));
        }
        int base = step * ranks * perRankBatch;
        int[] out = new int[perRankBatch];
        for (int l = 0; l < perRankBatch; l++) {
            out[l] = order[base + position(l, perRankBatch)];
        }
        return out;
    }
}
