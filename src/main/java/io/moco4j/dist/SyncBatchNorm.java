package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import io.moco4j.model.BatchNorm2d;
import io.moco4j.model.BatchNormHook;
import io.moco4j.precision.Float32;
import io.moco4j.precision.InGraphCast;
import io.moco4j.util.NoGrad;

/**
 * SyncBN (torch.nn.SyncBatchNorm, which moco-v3's main_moco.py converts the whole model to): in training every
 * BatchNorm normalises with the statistics of the global batch, all ranks' samples together.
 *
 * <p>Forward: each rank computes per channel its sample count, mean and sum of squared deviations (M2); the three
 * are all-gathered (one call per layer) and combined in rank order in double precision (Chan et al.'s pairwise
 * update: mean = sum n_r mean_r / n, M2 = sum M2_r + sum n_r (mean_r - mean)^2), so every rank gets bit-identical
 * statistics without the cancellation of sum-of-squares formulas. The output is normalised with the global mean
 * and biased variance; running statistics move by momentum 0.1 towards the global mean and unbiased variance, as
 * torch's SyncBatchNorm (which also gathers mean/invstd/count rather than reducing raw sums).
 *
 * <p>With a {@link SyncBnBackward} (the query side, trained) the layer is a cut of the autograd graph: x_hat is
 * computed without gradient and continues as a fresh leaf (the affine part stays in the graph), and the layer is recorded so that the backward pass
 * can compute the exact SyncBN input gradient, which needs sums over every rank's output gradients (see
 * {@link SyncBnBackward}). Without one (the momentum encoder, which runs under no-grad but in training mode and,
 * in the official code, with SyncBN too) it only normalises.
 *
 * <p>Arrays are attached to the input's manager (the step's), so the step's sub-manager frees them.
 */
public final class SyncBatchNorm implements BatchNormHook {
    private final Collectives collectives;
    private final SyncBnBackward backward;

    /** @param backward where trained layers are recorded, or null for forward-only normalisation */
    public SyncBatchNorm(Collectives collectives, SyncBnBackward backward) {
        this.collectives = collectives;
        this.backward = backward;
    }

    /** Global per-channel statistics of one layer's input. */
    record Stats(long count, float[] mean, float[] biasedVar, float[] unbiasedVar) {}

    @Override
    public NDArray normalize(NDArray input0, NDArray gamma, NDArray beta, NDArray runningMean, NDArray runningVar) {
        // Under autocast the input may be bf16/fp16: statistics, the cut and its exact backward work in float32
        // (torch's SyncBatchNorm also reduces in float32), and the output is rounded once to the input's dtype, as
        // torch's SyncBatchNorm returns it (its batch_norm_elemt writes the input's dtype). Left in float32 it would
        // skip the roundings the one-process BatchNorm makes (before residual sums and the heads' last BN): on the
        // 2-rank v3 check that moved the first loss a third of the way towards float32 (MpiJobTest).
        NDArray x = Float32.of(input0);
        Shape shape = x.getShape();
        int channels = Math.toIntExact(shape.get(1));
        NDManager mgr = x.getManager();
        // recorded whenever a backward pass may follow (grad mode on); DJL's hasGradient() is true only for leaves
        boolean record = backward != null && JniUtils.isGradMode();
        // the view keeps x's graph (and data) alive after the caller closes x; created with grad mode as it is
        NDArray input = record ? x.reshape(shape) : null;
        Stats stats;
        NDArray mean;
        NDArray var;
        NDArray normalized; // x_hat when recording, else the output
        try (NoGrad ignored = NoGrad.enter()) {
            stats = globalStats(x, channels);
            mean = mgr.create(stats.mean());
            var = mgr.create(stats.biasedVar());
            normalized = record ? normalized(x, mean, var, null, null) : normalized(x, mean, var, gamma, beta);
            updateRunning(runningMean, stats.mean(), mgr);
            updateRunning(runningVar, stats.unbiasedVar(), mgr);
        }
        if (!record) {
            return InGraphCast.toDtypeOf(normalized, input0);
        }
        // The cut is x_hat, a leaf (computed without gradient); the affine part stays in the autograd graph, so
        // gamma and beta get their (local) gradients from libtorch, and the caller gets a fresh non-leaf. Not a
        // view of the leaf: libtorch may store an incoming gradient view as a leaf's .grad without copying, and two
        // such leaves summed in a residual block (main path + downsample) would then share gradient memory that a
        // later backward call accumulates into twice.
        NDArray xhat = normalized;
        xhat.setRequiresGradient(true);
        float[] invstd = new float[channels];
        for (int c = 0; c < channels; c++) {
            invstd[c] = (float) (1 / Math.sqrt((double) stats.biasedVar()[c] + BatchNorm2d.EPS));
        }
        backward.record(new SyncBnBackward.Cut(input, mgr.create(invstd), stats.count(), xhat));
        if (gamma == null) {
            // times ones made by libtorch, not a Java scalar: autograd keeps the other operand of a product, and
            // DJL's scalar operands live in Java direct buffers that the garbage collector may free
            NDArray ones = mgr.ones(broadcastShape(shape), xhat.getDataType());
            return InGraphCast.toDtypeOf(xhat.mul(ones), input0);
        }
        Shape b = broadcastShape(shape);
        try (NDArray g = gamma.reshape(b); NDArray be = beta.reshape(b); NDArray scaled = xhat.mul(g)) {
            return InGraphCast.toDtypeOf(scaled.add(be), input0);
        }
    }

    /** Count, mean and biased/unbiased variance per channel over every rank's samples. */
    Stats globalStats(NDArray x, int channels) {
        Shape shape = x.getShape();
        int[] axes = reductionAxes(shape.dimension());
        long localCount = shape.size() / channels;
        float[] localMean;
        float[] localM2;
        try (NDManager tmp = x.getManager().newSubManager()) {
            NDArray s = x.sum(axes);
            s.attach(tmp);
            NDArray m = s.div((float) localCount);
            m.attach(tmp);
            NDArray centred = x.sub(m.reshape(broadcastShape(shape)));
            centred.attach(tmp);
            NDArray sq = centred.square();
            sq.attach(tmp);
            NDArray m2 = sq.sum(axes);
            m2.attach(tmp);
            localMean = m.toType(DataType.FLOAT32, false).toFloatArray();
            localM2 = m2.toType(DataType.FLOAT32, false).toFloatArray();
        }
        int row = 1 + 2 * channels;
        double[] mine = new double[row];
        mine[0] = localCount;
        for (int c = 0; c < channels; c++) {
            mine[1 + c] = localMean[c];
            mine[1 + channels + c] = localM2[c];
        }
        double[] all;
        if (collectives.size() == 1) {
            all = mine;
        } else {
            try (NDArray local = x.getManager().create(mine);
                 NDArray gathered = collectives.allGather(local)) {
                all = gathered.toDoubleArray();
            }
        }
        int ranks = all.length / row;
        double n = 0;
        for (int r = 0; r < ranks; r++) {
            n += all[r * row];
        }
        float[] mean = new float[channels];
        float[] biased = new float[channels];
        float[] unbiased = new float[channels];
        for (int c = 0; c < channels; c++) {
            double s = 0;
            for (int r = 0; r < ranks; r++) {
                s += all[r * row] * all[r * row + 1 + c];
            }
            double mu = s / n;
            double m2 = 0;
            for (int r = 0; r < ranks; r++) {
                double d = all[r * row + 1 + c] - mu;
                m2 += all[r * row + 1 + channels + c] + all[r * row] * d * d;
            }
            mean[c] = (float) mu;
            biased[c] = (float) (m2 / n);
            unbiased[c] = (float) (m2 / (n - 1));
        }
        return new Stats((long) n, mean, biased, unbiased);
    }

    /** gamma (x - mean) / sqrt(var + eps) + beta, by libtorch's batch_norm in evaluation mode (one fused pass). */
    static NDArray normalized(NDArray x, NDArray mean, NDArray var, NDArray gamma, NDArray beta) {
        if (gamma != null) {
            return batchNormEval(x, mean, var, gamma, beta);
        }
        try (NDArray ones = x.getManager().ones(mean.getShape(), x.getDataType());
             NDArray zeros = x.getManager().zeros(mean.getShape(), x.getDataType())) {
            return batchNormEval(x, mean, var, ones, zeros);
        }
    }

    private static NDArray batchNormEval(NDArray x, NDArray mean, NDArray var, NDArray gamma, NDArray beta) {
        return x.getNDArrayInternal().batchNorm(x, mean, var, gamma, beta, -1, 0.9f, BatchNorm2d.EPS, false)
                .singletonOrThrow();
    }

    /** running = (1 - momentum) running + momentum batch, in place (PyTorch's momentum 0.1). */
    private static void updateRunning(NDArray running, float[] batch, NDManager mgr) {
        float momentum = (float) BatchNorm2d.MOMENTUM;
        try (NDArray b = mgr.create(batch).toType(running.getDataType(), false)) {
            running.muli(1 - momentum);
            try (NDArray step = b.mul(momentum).toDevice(running.getDevice(), false)) {
                running.addi(step);
            }
        }
    }

    /** Every axis but the channel axis 1. */
    static int[] reductionAxes(int dims) {
        int[] axes = new int[dims - 1];
        axes[0] = 0;
        for (int d = 2; d < dims; d++) {
            axes[d - 1] = d;
        }
        return axes;
    }

    /** (1, C, 1, ...) for broadcasting a per-channel vector over an input of {@code shape}. */
    static Shape broadcastShape(Shape shape) {
        long[] b = new long[shape.dimension()];
        java.util.Arrays.fill(b, 1);
        b[1] = shape.get(1);
        return new Shape(b);
    }
}
