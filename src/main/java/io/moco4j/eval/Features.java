package io.moco4j.eval;

import ai.djl.ndarray.NDArray;

/**
 * Features of a whole data set: an (N, D) float32 tensor, the N labels ({@code -1} for unlabeled images)
 * and which encoder output they come from. Closing frees the tensor.
 */
public record Features(NDArray values, long[] labels, FeatureLayer layer) implements AutoCloseable {
    public int size() {
        return labels.length;
    }

    public long dim() {
        return values.getShape().get(1);
    }

    @Override
    public void close() {
        values.close();
    }
}
