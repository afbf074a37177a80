package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.dist.Collectives;
import java.util.Arrays;

/**
 * Shuffle BN across processes, as the official {@code _batch_shuffle_ddp} / {@code _batch_unshuffle_ddp}: the
 * key images of all ranks are gathered (rank order), one permutation of the global batch is drawn on rank 0 and
 * broadcast, each rank encodes its block of the permuted batch with its own BatchNorm, and the encoded keys are
 * gathered again and put back so every rank gets the keys of its own images.
 *
 * <p>The permutation is {@link SingleDeviceShuffler#permutation} of the global batch at the step, so a run on W
 * ranks shuffles exactly as one process with the same seed would; the broadcast keeps the ranks in agreement
 * even if their seeds ever drifted. All ranks must pass batches of the same size.
 */
public final class CrossProcessShuffle implements KeyShuffler {
    private final Collectives collectives;
    private final SingleDeviceShuffler permutations;

    public CrossProcessShuffle(Collectives collectives, long seed) {
        this.collectives = collectives;
        this.permutations = new SingleDeviceShuffler(seed);
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
        int rank = collectives.rank();
        NDArray all = collectives.allGather(batch);
        long[] perm = globalPermutation(local * collectives.size(), step);
        long[] inverse = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inverse[(int) perm[i]] = i;
        }
        NDManager m = batch.getManager();
        NDArray mine = all.get(m.create(Arrays.copyOfRange(perm, rank * local, (rank + 1) * local)));
        all.close();
        NDArray back = m.create(Arrays.copyOfRange(inverse, rank * local, (rank + 1) * local));
        return new Shuffled() {
            @Override
            public NDArray batch() {
                return mine;
            }

            @Override
            public NDArray restore(NDArray rows) {
                NDArray gathered = collectives.allGather(rows);
                NDArray own = gathered.get(back);
                gathered.close();
                return own;
            }
        };
    }
}
