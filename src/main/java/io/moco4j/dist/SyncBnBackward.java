package io.moco4j.dist;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.moco4j.util.NoGrad;
import java.util.ArrayList;
import java.util.List;

/**
 * The exact backward pass through SyncBN layers ({@link SyncBatchNorm}) on several ranks.
 *
 * <p>Why it is needed: with x_hat = (x - mu_g) / sigma_g over the global batch of N_g samples (then
 * y = gamma x_hat + beta), the input gradient is, with g = d loss / d x_hat (= gamma dy),
 * <pre>
 *   dx = 1 / sigma_g * (g - sum(g) / N_g - x_hat * sum(g x_hat) / N_g)
 * </pre>
 * where both sums run over every rank's samples: a rank's outputs depend on the other ranks' inputs through
 * mu_g and sigma_g. Treating the other ranks' statistics as constants (detaching them) drops those cross-rank
 * terms and gives wrong gradients. torch's SyncBatchNorm all-reduces the two sums inside its autograd function;
 * DJL has no custom autograd functions or hooks, so the graph is cut instead.
 *
 * <p>How: each SyncBN layer's x_hat is computed without gradient and continued as a fresh leaf (a {@link Cut});
 * gamma x_hat + beta stays in the graph. After the forward pass, {@link #backward} back-propagates the loss
 * (stopping at the cuts' leaves; gamma and beta get their local gradients sum(dy x_hat), sum(dy) on the way, to be
 * averaged over ranks with every other gradient, as DDP does), then visits the cuts in reverse creation order.
 * When a cut is visited its x_hat.grad is complete: every path from x_hat to the loss runs straight to the loss or
 * through a later cut, all already visited. The cut all-reduces [sum(g), sum(g x_hat)] per channel (one call),
 * computes dx as above, and continues libtorch's backward from its input x with dx as the seed. The graph is kept
 * ({@code keepGraph}) because residual paths are reachable from several cuts; it is freed with the step's arrays.
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
     * One recorded SyncBN layer: its input (a view keeping the graph), 1 / sigma_g per channel, the global sample
     * count per channel, and the normalised input x_hat, the leaf where the graph was cut.
     */
    record Cut(NDArray input, NDArray invstd, long count, NDArray xhat) {}

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
            try (NoGrad ignored = NoGrad.enter()) {
                NDArray xhat = cut.xhat();
                NDArray g = in(tmp, xhat.getGradient()); // d loss / d x_hat, complete: later cuts are done
                NDArray sums = in(tmp, in(tmp, g.sum(axes)).concat(in(tmp, in(tmp, g.mul(xhat)).sum(axes))));
                collectives.allReduceSum(sums);
                NDArray meanG = in(tmp, in(tmp, in(tmp, sums.get("0:" + channels)).div(cut.count())).reshape(b));
                NDArray meanGXhat = in(tmp, in(tmp, in(tmp, sums.get(channels + ":")).div(cut.count())).reshape(b));
                NDArray centred = in(tmp, in(tmp, g.sub(meanG)).sub(in(tmp, xhat.mul(meanGXhat))));
                dx = in(tmp, centred.mul(in(tmp, cut.invstd().reshape(b))));
            }
            continueFrom(x, dx);
        }
        for (NDArray a : new NDArray[] {cut.input(), cut.invstd(), cut.xhat()}) {
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
}
