package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import io.moco4j.data.SampleSeeds;
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

    public long seed() {
        return seed;
    }

    /** The permutation used at {@code step}: row i of the shuffled batch is row perm[i] of the input. */
    public long[] permutation(int n, long step) {
        int[] perm = SampleSeeds.permutation(n, new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (step + 1))));
        return java.util.Arrays.stream(perm).asLongStream().toArray();
    }

    @Override
    public Shuffled shuffle(NDArray batch, long step) {
        return KeyShuffler.permuted(batch, permutation(Math.toIntExact(batch.getShape().get(0)), step));
    }
}
