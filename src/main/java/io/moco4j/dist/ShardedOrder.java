package io.moco4j.dist;

import io.moco4j.data.SampleSeeds;
import io.moco4j.data.Shard;
import io.moco4j.data.ViewLoader;
import io.moco4j.util.UserException;

/**
 * Which images each rank trains on, with DistributedSampler's guarantees: one permutation per epoch from the
 * seed (the very permutation a single process uses, {@link SampleSeeds#permutation(int, long, int)}), each rank
 * a disjoint part of every global batch ({@link Shard}: a block, or for MoCo v1/v2 the images of its BatchNorm
 * groups, {@link BnGroups}), the same number of steps on every rank, and the last partial global batch dropped.
 * {@code train.batch_size} is the global batch.
 */
public final class ShardedOrder {
    private final int datasetSize;
    private final int globalBatch;
    private final int ranks;
    private final long seed;
    private final int groups;

    private ShardedOrder(int datasetSize, int globalBatch, int ranks, long seed, int groups) {
        this.datasetSize = datasetSize;
        this.globalBatch = globalBatch;
        this.ranks = ranks;
        this.seed = seed;
        this.groups = groups;
    }

    /** Blocks of the global batch (no BatchNorm groups to respect). */
    public static ShardedOrder of(int datasetSize, int globalBatch, int ranks, long seed) {
        return of(datasetSize, globalBatch, ranks, seed, 0);
    }

    /**
     * Validates the split: the global batch must divide by the ranks and fit in the data set; {@code groups} > 0
     * deals it out by that many BatchNorm groups (a multiple of the ranks dividing the global batch).
     */
    public static ShardedOrder of(int datasetSize, int globalBatch, int ranks, long seed, int groups) {
        if (ranks < 1) {
            throw new IllegalArgumentException("ranks must be at least 1, got " + ranks);
        }
        if (globalBatch < ranks || globalBatch % ranks != 0) {
            throw new UserException("train.batch_size " + globalBatch + " is the global batch and must divide evenly "
                    + "over the " + ranks + " processes; use a multiple of " + ranks);
        }
        if (datasetSize < globalBatch) {
            throw new UserException("the data set has " + datasetSize + " images, fewer than the global batch "
                    + globalBatch + "; lower train.batch_size or use more images");
        }
        if (groups > 0) {
            BnGroups.perRank(groups, globalBatch, ranks);
            if (globalBatch % groups != 0) {
                throw new UserException("train.batch_size " + globalBatch + " is not divisible by moco.bn_splits " + groups);
            }
        }
        return new ShardedOrder(datasetSize, globalBatch, ranks, seed, groups);
    }

    public int perRankBatch() {
        return globalBatch / ranks;
    }

    public int stepsPerEpoch() {
        return shard(0).steps(datasetSize, perRankBatch());
    }

    public Shard shard(int rank) {
        return new Shard(rank, ranks, groups);
    }

    /** The epoch's order over the whole data set, identical on every rank. */
    public int[] epochOrder(int epoch) {
        return SampleSeeds.permutation(datasetSize, seed, epoch);
    }

    /** Data set indices of rank {@code rank}'s batch at {@code step} of {@code epoch}. */
    public int[] batch(int epoch, int step, int rank) {
        if (step < 0 || step >= stepsPerEpoch()) {
            throw new IllegalArgumentException("step " + step + " outside [0, " + stepsPerEpoch() + ")");
        }
        return shard(rank).batch(epochOrder(epoch), step, perRankBatch());
    }

    /** Sets a loader builder up for this rank: per-rank batch size, the seed and the shard. */
    public ViewLoader.Builder configure(ViewLoader.Builder builder, int rank) {
        return builder.batchSize(perRankBatch()).seed(seed).shuffle(true).dropLast(true).shard(shard(rank));
    }
}
