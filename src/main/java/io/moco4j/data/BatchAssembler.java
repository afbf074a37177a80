package io.moco4j.data;

import ai.djl.ndarray.NDManager;

/**
 * How a batch of views is produced. The loader splits each batch into sample ranges that worker threads
 * {@link PendingBatch#prepare prepare} concurrently, then hands the finished batch to the consumer thread, which
 * turns it into tensors with {@link PendingBatch#materialize}. The CPU strategy ({@link CpuViewAssembler})
 * augments every image on the workers; a device strategy could instead only decode on the workers and run the
 * augmentations as batched tensor ops on the training device inside {@code materialize}.
 */
public interface BatchAssembler {

    /** Starts a batch of the data set images {@code indices} (in batch order) for {@code epoch}. */
    PendingBatch start(int epoch, int[] indices);

    /** Number of views per sample. */
    int viewCount();

    /** One batch under construction. */
    interface PendingBatch {
        /** Prepares samples {@code [from, to)}; called concurrently from worker threads on disjoint ranges. */
        void prepare(int from, int to);

        /** Creates the batch's tensors in {@code manager} (on its device); called once, on the consumer thread. */
        ViewBatch materialize(NDManager manager);
    }
}
