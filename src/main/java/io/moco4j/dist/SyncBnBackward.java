package io.moco4j.dist;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.moco4j.model.NoGrad;
import java.util.ArrayList;
import java.util.List;

/**
 * The exact backward pass through SyncBN layers ({@link SyncBatchNorm}) on several ranks.
 *
 * <p>Why it is needed: with y = gamma x_hat + beta, x_hat = (x - mu_g) / sigma_g over the global batch of N_g
 * samples, the input gradient is
 * <pre>
 *   dx = gamma / sigma_g * (dy - sum(dy) / N_g - x_hat * sum(dy x_hat) / N_g)
 * </pre>
 * where both sums run over every rank's samples: a rank's outputs depend on the other ranks' inputs through
 * mu_g and sigma_g. Treating the other ranks' statistics as constants (detaching them) drops those cross-rank
 * terms and gives wrong gradients. torch's SyncBatchNorm all-reduces the two sums inside its autograd function;
 * DJL has no custom autograd functions or hooks, so the graph is cut instead.
 *
 * <p>How: each SyncBN output is computed without gradient and continued as a fresh leaf y' (a {@link Cut}). After
 * the forward pass, {@link #backward} back-propagates the loss (stopping at the cuts' leaves), then visits the cuts
 * in reverse creation order. When a cut is visited its y'.grad is complete: every path from y' to the loss runs
 * straight to the loss or through a later cut, all already visited. The cut all-reduces [sum(dy), sum(dy x_hat)]
 * per channel (one call), computes dx as above, and continues libtorch's backward from its input x with dx as the
 * seed. The graph is kept ({@code keepGraph}) because residual paths are reachable from several cuts; it is freed
 * with the step's arrays. gamma and beta receive their local gradients sum(dy x_hat) and sum(dy) through a seeded
 * backward of a view of each, so that they are averaged over ranks with every other gradient, as DDP does.
 *
 * <p>Every rank records the same layers in the same order, so the all-reduces match across ranks.
 */
public final class SyncBnBackward {
    private final Collectives collectives;
    private final List<Cut> cuts = new ArrayList<>();

    public SyncBnBackward(Collectives collectives) {
        this.collectives = collectives;
    }

    /**
     * One recorded SyncBN layer: its input (a view keeping the graph), the global statistics it normalised with,
     * the affine parameters (null when not affine), the global sample count per channel and the output leaf.
     */
    record Cut(NDArray input, NDArray mean, NDArray biasedVar, NDArray invstd, NDArray gamma, NDArray beta,
               long count, NDArray output) {}

    void record(Cut cut) {
        cuts.add(cut);
    }

    /** Number of layers recorded since the last {@link #backward}. */
    public int recorded() {
        return cuts.size();
    }

    /**
     * Back-propagates the scalar {@code loss} through the graph and every recorded cut, leaving the gradients on
     * the parameters (accumulated, as libtorch's backward does). Runs collectives (one all-reduce per cut). Call
     * with grad mode on (inside the step's gradient collector); the cuts are forgotten afterwards.
     */
    public void backward(NDArray loss) {
        try {
            try (NDArray seed = loss.onesLike()) {
                JniUtils.backward((PtNDArray) loss, (PtNDArray) seed, true, false);
            }
            for (int i = cuts.size() - 1; i >= 0; i--) {
                backward(cuts.get(i));
            }
        } finally {
            cuts.clear();
        }
    }

    private void backward(Cut cut) {
        NDArray x = cut.input();
        Shape shape = x.getShape();
        int channels = Math.toIntExact(shape.get(1));
        int[] axes = SyncBatchNorm.reductionAxes(shape.dimension());
        Shape b = SyncBatchNorm.broadcastShape(shape);
        // the cut's full-size temporaries are freed as soon as it is done, not with the step
        try (NDManager tmp = x.getManager().newSubManager()) {
            NDArray dx;
            NDArray localSumDy;
            NDArray localSumDyXhat;
            try (NoGrad ignored = NoGrad.enter()) {
                NDArray dy = in(tmp, cut.output().getGradient()); // complete: every later cut has been visited
                NDArray xhat = in(tmp, SyncBatchNorm.normalized(x, cut.mean(), cut.biasedVar(), null, null));
                localSumDy = in(tmp, dy.sum(axes));
                localSumDyXhat = in(tmp, in(tmp, dy.mul(xhat)).sum(axes));
                NDArray sums = in(tmp, localSumDy.concat(localSumDyXhat)); // a copy: the local sums stay
                collectives.allReduceSum(sums);
                NDArray meanDy = in(tmp, in(tmp, sums.get("0:" + channels)).div(cut.count()).reshape(b));
                NDArray meanDyXhat = in(tmp, in(tmp, sums.get(channels + ":")).div(cut.count()).reshape(b));
                NDArray scale = cut.gamma() == null ? cut.invstd() : in(tmp, cut.gamma().mul(cut.invstd()));
                NDArray centred = in(tmp, dy.sub(meanDy));
                NDArray centred2 = in(tmp, centred.sub(in(tmp, xhat.mul(meanDyXhat))));
                dx = in(tmp, centred2.mul(in(tmp, scale.reshape(b))));
            }
            continueFrom(x, dx);
            if (cut.gamma() != null) {
                accumulate(cut.gamma(), localSumDyXhat);
                accumulate(cut.beta(), localSumDy);
            }
        }
        for (NDArray a : new NDArray[] {cut.input(), cut.output(), cut.mean(), cut.biasedVar(), cut.invstd()}) {
            a.close();
        }
    }

    /**
     * libtorch's backward from {@code x} seeded with {@code dx}, keeping the graph. An input outside the graph (no
     * trained parameter before this layer) has nothing to continue to; DJL cannot tell such a tensor from a
     * non-leaf of the graph ({@code hasGradient()} is true for leaves only), so libtorch's refusal is that signal.
     */
    private static void continueFrom(NDArray x, NDArray dx) {
        try {
            JniUtils.backward((PtNDArray) x, (PtNDArray) dx, true, false);
        } catch (EngineException e) {
            if (e.getMessage() == null || !e.getMessage().contains("does not require grad")) {
                throw e;
            }
        }
    }

    private static NDArray in(NDManager tmp, NDArray a) {
        a.attach(tmp);
        return a;
    }

    /** Adds {@code gradient} to {@code param}'s gradient, through libtorch's own accumulation (a seeded backward). */
    private static void accumulate(NDArray param, NDArray gradient) {
        if (!param.hasGradient()) {
            return; // frozen
        }
        try (NDArray view = param.reshape(param.getShape())) {
            JniUtils.backward((PtNDArray) view, (PtNDArray) gradient, false, false);
        }
    }
}
