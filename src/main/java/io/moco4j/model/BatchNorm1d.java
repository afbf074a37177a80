package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import io.moco4j.util.UserException;
import java.util.Map;

/**
 * PyTorch's {@code BatchNorm1d} on (N, C) inputs (momentum 0.1, eps 1e-5), affine or not, as a view over the
 * state tensors owned by a network: {@code weight} and {@code bias} only when affine (a non-affine torch module has
 * no such tensors in its state_dict), and the buffers {@code running_mean}, {@code running_var},
 * {@code num_batches_tracked}.
 *
 * <p>Same engine call and momentum convention as {@link BatchNorm2d}: DJL's momentum is the weight of the old
 * running value, so PyTorch's 0.1 is passed as 0.9f; libtorch updates the running statistics in place in training
 * (running_var with the unbiased batch variance) and {@code num_batches_tracked} is incremented here. Evaluation
 * normalises with the running statistics and changes nothing. While a {@link BatchNormHook} is installed (SyncBN on
 * several ranks) training normalises through it instead.
 */
public final class BatchNorm1d {
    private static final float DJL_MOMENTUM = 0.9f;

    private final NDArray weight;
    private final NDArray bias;
    private final NDArray runningMean;
    private final NDArray runningVar;
    private final NDArray numBatchesTracked;

    /** {@code weight} and {@code bias} both null for a non-affine BN, both set otherwise. */
    public BatchNorm1d(NDArray weight, NDArray bias, NDArray runningMean, NDArray runningVar,
                       NDArray numBatchesTracked) {
        if ((weight == null) != (bias == null)) {
            throw new IllegalArgumentException("BatchNorm1d needs both weight and bias (affine) or neither");
        }
        this.weight = weight;
        this.bias = bias;
        this.runningMean = runningMean;
        this.runningVar = runningVar;
        this.numBatchesTracked = numBatchesTracked;
    }

    /** The BN whose tensors are {@code prefix.weight} (if affine), ..., {@code prefix.num_batches_tracked}. */
    public static BatchNorm1d of(Map<String, NDArray> state, String prefix, boolean affine) {
        return new BatchNorm1d(affine ? get(state, prefix + ".weight") : null,
                affine ? get(state, prefix + ".bias") : null, get(state, prefix + ".running_mean"),
                get(state, prefix + ".running_var"), get(state, prefix + ".num_batches_tracked"));
    }

    private static NDArray get(Map<String, NDArray> state, String key) {
        NDArray a = state.get(key);
        if (a == null) {
            throw new IllegalArgumentException("missing BatchNorm tensor " + key);
        }
        return a;
    }

    /** Normalises {@code x} (N, C); the result is attached to {@code x}'s manager. */
    public NDArray forward(NDArray x, boolean training) {
        if (x.getShape().dimension() != 2 || x.getShape().get(1) != runningMean.getShape().get(0)) {
            throw new IllegalArgumentException("BatchNorm1d expects (N, " + runningMean.getShape().get(0) + "), got "
                    + x.getShape());
        }
        if (training && x.getShape().get(0) < 2) {
            throw new UserException("BatchNorm1d in training needs more than one sample per batch (got "
                    + x.getShape().get(0) + "); use a batch size of at least 2");
        }
        NDArray out;
        BatchNormHook hook = training ? BatchNormHook.current() : null;
        if (hook != null) {
            out = hook.normalize(x, weight, bias, runningMean, runningVar);
        } else if (weight != null) {
            out = batchNorm(x, weight, bias, training);
        } else {
            // DJL's engine needs gamma and beta; 1 and 0 are exact (libtorch's kernel scales by weight-or-1 and adds
            // bias-or-0), and autograd keeps its own reference to them, so closing the handles here is safe
            // (in the statistics' dtype, float32: under autocast x may be bf16, which DJL cannot create)
            try (NDArray ones = x.getManager().ones(runningMean.getShape(), runningMean.getDataType());
                    NDArray zeros = x.getManager().zeros(runningMean.getShape(), runningMean.getDataType())) {
                out = batchNorm(x, ones, zeros, training);
            }
        }
        if (training) {
            try (NDArray one = x.getManager().create(1L)) {
                numBatchesTracked.addi(one);
            }
        }
        return out;
    }

    private NDArray batchNorm(NDArray x, NDArray gamma, NDArray beta, boolean training) {
        return x.getNDArrayInternal()
                .batchNorm(x, runningMean, runningVar, gamma, beta, -1, DJL_MOMENTUM, BatchNorm2d.EPS, training)
                .singletonOrThrow();
    }

    public boolean affine() {
        return weight != null;
    }

    public NDArray weight() {
        return weight;
    }

    public NDArray bias() {
        return bias;
    }

    public NDArray runningMean() {
        return runningMean;
    }

    public NDArray runningVar() {
        return runningVar;
    }

    public NDArray numBatchesTracked() {
        return numBatchesTracked;
    }
}
