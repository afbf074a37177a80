package io.moco4j.loss;

/** Turns per-row ranks of the correct class (0 = best) into top-k accuracies in percent. */
final class Ranks {
    private Ranks() {}

    /** Copies integer or boolean-sum counts to the host as longs (libtorch sums booleans to int64). */
    static long[] toLongs(ai.djl.ndarray.NDArray counts) {
        if (counts.getDataType() == ai.djl.ndarray.types.DataType.INT64) {
            return counts.toLongArray();
        }
        try (ai.djl.ndarray.NDArray asLong = counts.toType(ai.djl.ndarray.types.DataType.INT64, true)) {
            return asLong.toLongArray();
        }
    }

    static float[] topkPercent(long[] ranks, int... topk) {
        if (topk.length == 0) {
            throw new IllegalArgumentException("give at least one k, e.g. accuracy(logits, 1, 5)");
        }
        float[] out = new float[topk.length];
        for (int i = 0; i < topk.length; i++) {
            if (topk[i] < 1) {
                throw new IllegalArgumentException("top-k needs k >= 1, got " + topk[i]);
            }
            long hits = 0;
            for (long r : ranks) {
                if (r < topk[i]) {
                    hits++;
                }
            }
            out[i] = ranks.length == 0 ? 0f : (float) (100.0 * hits / ranks.length);
        }
        return out;
    }
}
