package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Averages gradients over ranks before the optimizer step (DistributedDataParallel's all-reduce, mean).
 *
 * <p>Gradients are packed into buckets of about {@code bucketBytes} (25 MB, DDP's default) so that a ResNet's
 * ~160 small tensors cost a few collective calls, not one each; a gradient larger than a bucket is reduced
 * in its own memory. The reduction runs after the whole backward pass: DJL's backward is one libtorch call
 * with no per-parameter hook, so it cannot overlap with backward as DDP's does.
 */
public final class GradientAverager {
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final Collectives collectives;
    private final long bucketBytes;

    public GradientAverager(Collectives collectives) {
        this(collectives, DEFAULT_BUCKET_BYTES);
    }

    public GradientAverager(Collectives collectives, long bucketBytes) {
        if (bucketBytes < 4) {
            throw new IllegalArgumentException("bucketBytes must hold at least one float, got " + bucketBytes);
        }
        this.collectives = collectives;
        this.bucketBytes = bucketBytes;
    }

    /** Replaces every gradient in {@code gradients} (float32, one device) by its mean over ranks, in place. */
    public void average(Map<String, NDArray> gradients) {
        if (collectives.size() == 1) {
            return;
        }
        List<NDArray> grads = new ArrayList<>(gradients.size());
        for (Map.Entry<String, NDArray> e : gradients.entrySet()) {
            if (e.getValue().getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("gradient " + e.getKey() + " is " + e.getValue().getDataType()
                        + ", not float32");
            }
            grads.add(e.getValue());
        }
        long[] sizes = grads.stream().mapToLong(NDArray::size).toArray();
        for (int[] bucket : buckets(sizes, bucketBytes)) {
            List<NDArray> members = new ArrayList<>(bucket.length);
            for (int i : bucket) {
                members.add(grads.get(i));
            }
            reduce(members);
        }
    }

    /** Averages the gradients of {@code parameters} (the handles DJL returns are closed again). */
    public void averageOf(Map<String, NDArray> parameters) {
        Map<String, NDArray> grads = new java.util.LinkedHashMap<>();
        try {
            for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
                if (e.getValue().hasGradient()) {
                    grads.put(e.getKey(), e.getValue().getGradient());
                }
            }
            average(grads);
        } finally {
            grads.values().forEach(NDArray::close);
        }
    }

    /**
     * Consecutive groups of float tensors of these element counts, each at most {@code bucketBytes} unless one
     * tensor alone is larger (it then forms its own group).
     */
    static List<int[]> buckets(long[] elementCounts, long bucketBytes) {
        List<int[]> out = new ArrayList<>();
        int start = 0;
        long bytes = 0;
        for (int i = 0; i < elementCounts.length; i++) {
            long size = 4 * elementCounts[i];
            if (i > start && bytes + size > bucketBytes) {
                out.add(java.util.stream.IntStream.range(start, i).toArray());
                start = i;
                bytes = 0;
            }
            bytes += size;
        }
        if (start < elementCounts.length) {
            out.add(java.util.stream.IntStream.range(start, elementCounts.length).toArray());
        }
        return out;
    }

    private void reduce(List<NDArray> bucket) {
        Packing.apply(bucket, collectives::allReduceMean);
    }
}
