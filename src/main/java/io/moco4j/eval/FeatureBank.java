package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.NoGrad;
import io.moco4j.util.UserException;

/**
 * Extracts features for every image of a data set with a deterministic (evaluation) transform: batched,
 * under {@link NoGrad}, one sub-manager per batch, into one (N, D) tensor on the manager's device.
 */
public final class FeatureBank {
    /** Receives the features of images {@code [from, from + batch.rows)}; the batch is closed afterwards. */
    @FunctionalInterface
    public interface BatchConsumer {
        void accept(int from, NDArray batch);
    }

    /** Receives the features of the images {@code indices} (data set order) that decoded in one batch. */
    @FunctionalInterface
    public interface ReadableBatchConsumer {
        void accept(int[] indices, NDArray batch);
    }

    private FeatureBank() {}

    public static Features extract(ImageDataset dataset, ViewTransform transform, FeatureFunction features,
                                   FeatureLayer layer, int batchSize, NDManager manager) {
        if (dataset.size() == 0) {
            throw new UserException("the data set is empty; point the evaluation at a folder with images");
        }
        NDArray[] out = new NDArray[1];
        forEachBatch(dataset, transform, features, batchSize, manager, (from, batch) -> {
            if (out[0] == null) {
                out[0] = manager.zeros(new Shape(dataset.size(), batch.getShape().get(1)), DataType.FLOAT32);
            }
            out[0].set(new NDIndex(from + ":" + (from + batch.getShape().get(0))), batch);
        });
        long[] labels = new long[dataset.size()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = dataset.label(i);
        }
        return new Features(out[0], labels, layer);
    }

    /**
     * As {@link #forEachBatch}, but an image that cannot be decoded or transformed (damaged, a bomb, too thin to
     * resize) is left out and its one-line reason handed to {@code skipped}, instead of ending the run.
     */
    public static void forEachReadableBatch(ImageDataset dataset, ViewTransform transform, FeatureFunction features,
                                            int batchSize, NDManager manager, ReadableBatchConsumer consumer,
                                            java.util.function.Consumer<String> skipped) {
        if (batchSize < 1) {
            throw new UserException("batch size must be at least 1 (got " + batchSize + ")");
        }
        int n = dataset.size();
        try (NoGrad ignored = NoGrad.enter()) {
            for (int from = 0; from < n; from += batchSize) {
                int to = Math.min(n, from + batchSize);
                try (NDManager step = manager.newSubManager()) {
                    ImageBatcher.Readable r = ImageBatcher.loadReadable(dataset, from, to, transform, step);
                    r.failures().forEach(skipped);
                    if (r.images() == null) {
                        continue;
                    }
                    NDArray f = features.apply(r.images());
                    f.attach(step);
                    if (f.getDataType() != DataType.FLOAT32) {
                        f = f.toType(DataType.FLOAT32, false);
                    }
                    consumer.accept(r.indices(), f);
                }
            }
        }
    }

    /** Runs {@code features} over the whole set in order, handing each (rows, D) batch to {@code consumer}. */
    public static void forEachBatch(ImageDataset dataset, ViewTransform transform, FeatureFunction features,
                                    int batchSize, NDManager manager, BatchConsumer consumer) {
        if (batchSize < 1) {
            throw new UserException("batch size must be at least 1 (got " + batchSize + ")");
        }
        int n = dataset.size();
        int[] all = ImageBatcher.all(n);
        try (NoGrad ignored = NoGrad.enter()) {
            for (int from = 0; from < n; from += batchSize) {
                int to = Math.min(n, from + batchSize);
                try (NDManager step = manager.newSubManager()) {
                    NDArray images = ImageBatcher.load(dataset, all, from, to, transform, 0, 0, step);
                    NDArray f = features.apply(images);
                    f.attach(step);
                    if (f.getShape().dimension() != 2 || f.getShape().get(0) != to - from) {
                        throw new IllegalStateException("feature function returned shape " + f.getShape()
                                + " for a batch of " + (to - from) + " images; expected (" + (to - from) + ", D)");
                    }
                    if (f.getDataType() != DataType.FLOAT32) {
                        f = f.toType(DataType.FLOAT32, false);
                    }
                    consumer.accept(from, f);
                }
            }
        }
    }
}
