package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import java.util.function.UnaryOperator;

/**
 * Shuffle BN: the key batch is permuted before the key encoder and restored after it, so the
 * BatchNorm groups that see a key differ from those that saw its query and batch statistics cannot
 * leak the positive. On one device the groups are BN splits; a multi-device implementation would
 * gather, shuffle across devices and scatter behind this same interface.
 */
public interface KeyShuffler {

    /** A permuted batch and what is needed to undo the permutation. */
    interface Shuffled {
        NDArray batch();

        /** Puts rows computed from {@link #batch()} back into the original order. */
        NDArray restore(NDArray rows);

        /** A shuffled {@code batch} whose rows {@code restore} puts back in order. */
        static Shuffled of(NDArray batch, UnaryOperator<NDArray> restore) {
            return new Shuffled() {
                @Override
                public NDArray batch() {
                    return batch;
                }

                @Override
                public NDArray restore(NDArray rows) {
                    return restore.apply(rows);
                }
            };
        }
    }

    /** The inverse of the permutation {@code perm}: {@code inverse[perm[i]] = i}. */
    static long[] inverse(long[] perm) {
        long[] inverse = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inverse[(int) perm[i]] = i;
        }
        return inverse;
    }

    /**
     * {@code batch} with row i taken from row {@code perm[i]}, and the inverse permutation to restore the order of rows
     * computed from it.
     */
    static Shuffled permuted(NDArray batch, long[] perm) {
        NDArray shuffled = batch.get(batch.getManager().create(perm));
        NDArray inv = batch.getManager().create(inverse(perm));
        return Shuffled.of(shuffled, rows -> rows.get(inv));
    }

    /** Permutes {@code batch} for training step {@code step}; deterministic given the step. */
    Shuffled shuffle(NDArray batch, long step);

    /** No shuffling: keys see the same BN groups as queries (for ablations and BN-free setups). */
    KeyShuffler NONE = (batch, step) -> Shuffled.of(batch, rows -> rows);
}
