package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.data.Shard;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.KeyGather;

/**
 * Shuffle BN across processes, as the official {@code _batch_shuffle_ddp} / {@code _batch_unshuffle_ddp}: the
 * key images of all ranks are gathered, one permutation of the global batch is drawn on rank 0 and broadcast,
 * each rank encodes its part of the permuted batch with its own BatchNorm, and the encoded keys are gathered
 * again and put back so every rank gets the keys of its own images.
 *
 * <p>The permutation is {@link SingleDeviceShuffler#permutation} of the global batch at the step, and a rank's
 * part of the permuted batch is the positions it holds of any global batch ({@link Shard}: its BatchNorm groups
 * for split BN, else its block). So a key lands in the BatchNorm group it would land in on one process with the
 * same seed and global batch, and the run shuffles exactly as that process. The broadcast keeps the ranks in
 * agreement even if their seeds ever drifted. All ranks must pass batches of the same size.
 */
public final class CrossProcessShuffle implements KeyShuffler {
    private final Collectives collectives;
    private final SingleDeviceShuffler permutations;
    private final int groups;

    /** Ranks holding blocks of the global batch. */
    public CrossProcessShuffle(Collectives collectives, long seed) {
        this(collectives, seed, 0);
    }

    /** @param groups BatchNorm groups over the global batch ({@link Shard#groups()}); 0 for blocks */
    public CrossProcessShuffle(Collectives collectives, long seed, int groups) {
        this.collectives = collectives;
        this.permutations = new SingleDeviceShuffler(seed);
        this.groups = groups;
    }

    /** The permutation of the global batch at {@code step}, agreed by all ranks (rank 0's, broadcast). */
    long[] globalPermutation(int globalBatch, long step) {
        long[] perm = collectives.isRoot() ? permutations.permutation(globalBatch, step) : new long[globalBatch];
        collectives.broadcast(perm, 0);
        return perm;
    }

    @Override
    public Shuffled shuffle(NDArray batch, long step) {
        int local = Math.toIntExact(batch.getShape().get(0));
        int ranks = collectives.size();
        Shard mine = new Shard(collectives.rank(), ranks, groups);
        long[] row = KeyGather.gatheredRow(ranks, groups, local);
        long[] perm = globalPermutation(local * ranks, step);
        long[] inverse = KeyShuffler.inverse(perm);
        long[] take = new long[local]; // my l-th row of the shuffled batch: shuffled position q holds image perm[q]
        long[] back = new long[local]; // my l-th image sits at shuffled position inverse[p]
        for (int l = 0; l < local; l++) {
            int p = mine.position(l, local);
            take[l] = row[(int) perm[p]];
            back[l] = row[(int) inverse[p]];
        }
        NDArray all = collectives.allGather(batch);
        NDManager m = batch.getManager();
        NDArray shuffled = all.get(m.create(take));
        all.close();
        NDArray restoreRows = m.create(back);
        return Shuffled.of(shuffled, rows -> {
            NDArray gathered = collectives.allGather(rows);
            NDArray own = gathered.get(restoreRows);
            gathered.close();
            return own;
        });
    }
}
