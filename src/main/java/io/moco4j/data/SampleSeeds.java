package io.moco4j.data;

import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Derives independent random streams from (seed, epoch, index, view) so that every sample's augmentation is a pure
 * function of those numbers: the output is the same whatever the number of loader threads or the batch layout.
 */
public final class SampleSeeds {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    /** Separates the shuffling stream from the per-sample streams. */
    static final long SHUFFLE_STREAM = -1L;

    private SampleSeeds() {}

    /** SplitMix64's finaliser (Steele et al.): a bijective mix with good avalanche. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Hashes an ordered list of numbers into one seed. */
    public static long combine(long... parts) {
        long h = 0x6A09E667F3BCC909L;
        for (long p : parts) {
            h = mix64(h + GOLDEN + mix64(p + GOLDEN));
        }
        return h;
    }

    /** The generator for view {@code view} of data set image {@code index} in {@code epoch}. */
    public static SplittableRandom forSample(long seed, int epoch, int index, int view) {
        return new SplittableRandom(combine(seed, epoch, index, view));
    }

    /** A permutation of 0..n-1 that depends only on (seed, epoch). */
    public static int[] permutation(int n, long seed, int epoch) {
        return permutation(n, new SplittableRandom(combine(seed, epoch, SHUFFLE_STREAM)));
    }

    /** A uniformly random permutation of 0..n-1 drawn from {@code rng} (Fisher-Yates). */
    public static int[] permutation(int n, RandomGenerator rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
