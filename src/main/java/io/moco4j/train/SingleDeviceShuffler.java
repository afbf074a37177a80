package io.moco4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.SplittableRandom;

/**
 * Shuffle BN on one device, as the official CIFAR demo does: a random permutation of the batch from
 * (seed, step), and its inverse to restore order. Combined with split BatchNorm (sample i in group
 * i mod S), a key lands in a different group than its query.
 */
public final class SingleDeviceShuffler implements KeyShuffler {
    private final long seed;

    public SingleDeviceShuffler(long seed) {
        this.seed = seed;
    }

    /** The permutation used at {@code step}: row i of the shuffled batch is row perm[i] of the input. */
    public long[] permutation(int n, long step) {
        SplittableRandom rng = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (step + 1)));
        long[] perm = new long[n];
        for (int i = 0; i < n; i++) {
            perm[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            long t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return perm;
    }

    @Override
    public Shuffled shuffle(NDArray batch, long step) {
        int n = Math.toIntExact(batch.getShape().get(0));
        long[] perm = permutation(n, step);
        long[] inverse = new long[n];
        for (int i = 0; i < n; i++) {
            inverse[(int) perm[i]] = i;
        }
        NDManager m = batch.getManager();
        NDArray shuffled = batch.get(m.create(perm));
        NDArray inv = m.create(inverse);
        return new Shuffled() {
            @Override
            public NDArray batch() {
                return shuffled;
            }

            @Override
            public NDArray restore(NDArray rows) {
                return rows.get(inv);
            }
        };
    }
}
