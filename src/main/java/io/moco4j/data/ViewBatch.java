package io.moco4j.data;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import java.util.List;

/**
 * One batch from a loader: one or more augmented views of the same images, each a normalised float32
 * NCHW tensor, plus the dataset indices and labels ({@link ImageDataset#UNLABELED} when unknown).
 * Closing the batch frees its tensors.
 */
public record ViewBatch(List<NDArray> views, int[] indices, int[] labels) implements AutoCloseable {
    public NDArray view(int i) {
        return views.get(i);
    }

    public int size() {
        return indices.length;
    }

    @Override
    public void close() {
        new NDList(views).close();
    }
}
