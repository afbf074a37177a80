package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SingleDeviceShufflerTest {

    @Test
    void restoreUndoesTheShuffle() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.arange(0f, 32f).reshape(new Shape(8, 2, 2));
            KeyShuffler.Shuffled s = new SingleDeviceShuffler(5).shuffle(x, 3);
            assertFalse(Arrays.equals(x.toFloatArray(), s.batch().toFloatArray()), "the batch is permuted");
            // Any per-row computation on the shuffled batch comes back in the original order.
            NDArray rows = s.batch().reshape(8, 4).mul(2);
            assertArrayEquals(x.reshape(8, 4).mul(2).toFloatArray(), s.restore(rows).toFloatArray());
        }
    }

    @Test
    void permutationIsAPermutationAndChangesPerStep() {
        SingleDeviceShuffler sh = new SingleDeviceShuffler(1);
        long[] p = sh.permutation(64, 10);
        long[] sorted = p.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < 64; i++) {
            if (sorted[i] != i) {
                throw new AssertionError("not a permutation: " + Arrays.toString(p));
            }
        }
        assertArrayEquals(p, sh.permutation(64, 10), "same step, same permutation (resumable)");
        assertFalse(Arrays.equals(p, sh.permutation(64, 11)));
    }
}
