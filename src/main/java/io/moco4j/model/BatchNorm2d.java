package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.Map;

/**
 * PyTorch's {@code BatchNorm2d} (momentum 0.1, eps 1e-5) plus the official MoCo CIFAR demo's
 * {@code SplitBatchNorm}, as a view over five state tensors owned by a network.
 *
 * <p>DJL's PyTorch engine forwards {@code NDArrayEx.batchNorm} to {@code torch::nn::functional::batch_norm}
 * with {@code 1 - momentum}: DJL's momentum is the weight of the old running value, so PyTorch's 0.1 is
 * passed as 0.9f (which gives libtorch 0.100000024, a 2.4e-8 difference that float32 running stats cannot
 * show). With {@code axis = -1} the engine calls libtorch directly (channels in dim 1); other axes add two
 * transposes. libtorch updates {@code running_mean}/{@code running_var} in place in training mode, with the
 * unbiased batch variance for {@code running_var}; {@code num_batches_tracked} is ours to increment.
 *
 * <p>Split BN (training with {@code splits} S > 1): the batch (N, C, H, W) is viewed as (N/S, C*S, H, W) so
 * sample i falls into group i mod S; running statistics, gamma and beta are tiled S times, normalised per
 * group, and the S updated running statistics are averaged back. Evaluation always uses plain BN with the
 * running statistics. Unlike the demo's module we also count {@code num_batches_tracked} with S > 1, so that
 * S = 1 and S > 1 keep the same bookkeeping (the counter only matters for PyTorch's momentum=None mode).
 *
 * <p>While a {@link BatchNormHook} is installed (SyncBN on several ranks) training normalises through it instead.
 */
public final class BatchNorm2d {
    public static final double MOMENTUM = 0.1;
    public static final float EPS = 1e-5f;
    /** DJL's name for PyTorch's momentum 0.1 (the weight of the old running value). */
    private static final float DJL_MOMENTUM = 0.9f;

    private final NDArray weight;
    private final NDArray bias;
    private final NDArray runningMean;
    private final NDArray runningVar;
    private final NDArray numBatchesTracked;

    public BatchNorm2d(NDArray weight, NDArray bias, NDArray runningMean, NDArray runningVar,
                       NDArray numBatchesTracked) {
        this.weight = weight;
        this.bias = bias;
        this.runningMean = runningMean;
        this.runningVar = runningVar;
        this.numBatchesTracked = numBatchesTracked;
    }

    /**
     * Whether a BN output of this pass may be overwritten in place (torchvision's {@code ReLU(inplace=True)} and
     * {@code out += identity}): not while a {@link BatchNormHook} is installed (SyncBN's output is a leaf that requires
     * gradients, which libtorch refuses to modify), and not with split BN in training (the output is a reshape view).
     */
    public static boolean outputOverwritable(boolean training, int splits) {
        return !training || (splits == 1 && BatchNormHook.current() == null);
    }

    /** The BN whose tensors are {@code prefix.weight}, {@code prefix.bias}, {@code prefix.running_mean}, ... */
    public static BatchNorm2d of(Map<String, NDArray> state, String prefix) {
        return new BatchNorm2d(get(state, prefix + ".weight"), get(state, prefix + ".bias"),
                get(state, prefix + ".running_mean"), get(state, prefix + ".running_var"),
                get(state, prefix + ".num_batches_tracked"));
    }

    private static NDArray get(Map<String, NDArray> state, String key) {
        NDArray a = state.get(key);
        if (a == null) {
            throw new IllegalArgumentException("missing BatchNorm tensor " + key);
        }
        return a;
    }

    /**
     * Normalises {@code x} (N, C, ...). In training, uses batch statistics (in {@code splits} groups) and updates
     * the running statistics in place; otherwise uses the running statistics. The result is attached to
     * {@code x}'s manager.
     */
    public NDArray forward(NDArray x, boolean training, int splits) {
        if (!training) {
            return batchNorm(x, runningMean, runningVar, weight, bias, false);
        }
        if (splits < 1) {
            throw new IllegalArgumentException("splits must be >= 1, got " + splits);
        }
        BatchNormHook hook = BatchNormHook.current();
        NDArray out;
        if (hook != null) {
            if (splits != 1) {
                throw new IllegalStateException("BatchNorm splits (" + splits + ") cannot combine with "
                        + "a BatchNorm hook (SyncBN normalises over the global batch)");
            }
            out = hook.normalize(x, weight, bias, runningMean, runningVar);
        } else {
            out = splits == 1 ? batchNorm(x, runningMean, runningVar, weight, bias, true) : splitForward(x, splits);
        }
        try (NDArray one = x.getManager().create(1L)) {
            numBatchesTracked.addi(one);
        }
        return out;
    }

    /** Split-BN training normalisation and running-stat update, without the counter (package-private for tests). */
    NDArray splitForward(NDArray x, int splits) {
        Shape shape = x.getShape();
        long n = shape.get(0);
        long c = shape.get(1);
        if (n % splits != 0) {
            throw new UserException("batch size " + n + " is not divisible by bn-splits " + splits
                    + "; use a batch size that is a multiple of bn-splits (or bn-splits 1)");
        }
        long[] grouped = shape.getShape().clone();
        grouped[0] = n / splits;
        grouped[1] = c * splits;
        NDManager caller = x.getManager();
        try (NDManager tmp = caller.newSubManager()) {
            NDArray mean = temp(runningMean.tile(splits), tmp);
            NDArray var = temp(runningVar.tile(splits), tmp);
            NDArray gamma = temp(weight.tile(splits), tmp);
            NDArray beta = temp(bias.tile(splits), tmp);
            NDArray xs = temp(x.reshape(new Shape(grouped)), tmp);
            NDArray ys = batchNorm(xs, mean, var, gamma, beta, true);
            NDArray out = ys.reshape(shape);
            out.attach(caller);
            Shape perGroup = new Shape(splits, c);
            Tensors.copyInto(runningMean, mean.reshape(perGroup).mean(new int[] {0}));
            Tensors.copyInto(runningVar, var.reshape(perGroup).mean(new int[] {0}));
            return out;
        }
    }

    private static NDArray temp(NDArray a, NDManager tmp) {
        a.attach(tmp);
        return a;
    }

    private static NDArray batchNorm(NDArray x, NDArray mean, NDArray var, NDArray gamma, NDArray beta,
                                     boolean training) {
        return x.getNDArrayInternal()
                .batchNorm(x, mean, var, gamma, beta, -1, DJL_MOMENTUM, EPS, training)
                .singletonOrThrow();
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
