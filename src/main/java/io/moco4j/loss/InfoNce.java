package io.moco4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import io.moco4j.util.Scalars;

/**
 * The InfoNCE loss of MoCo v1/v2 (He et al. 2020, Eq. 1) as the official code computes it: logits
 * {@code [q·k, q·queue] / T} with the positive key in column 0, then cross-entropy against target 0.
 *
 * <p>Layout: {@code q} and {@code k} are (N, D) and L2-normalised along dim 1; the queue is (K, D) with
 * ONE ROW PER KEY. The official code stores its queue transposed, as (D, K); a row-per-key queue makes
 * enqueueing a contiguous row copy. All results attach to the manager of the first array argument, so
 * call these with arrays from a per-step sub-manager. Every op is differentiable through DJL's
 * autograd; the queue and the keys are constants of the loss by convention (they never require grad).
 */
public final class InfoNce {
    /** {@code torch.nn.functional.normalize}'s default epsilon. */
    public static final double NORMALIZE_EPS = 1e-12;

    private InfoNce() {}

    /** {@code x / max(||x||_2, 1e-12)} along dim 1, exactly {@code F.normalize(x, dim=1)}. */
    public static NDArray normalize(NDArray x) {
        return x.normalize(2, 1, NORMALIZE_EPS);
    }

    /**
     * Logits (N, 1+K): column 0 is {@code sum(q*k, 1) / t}, columns 1..K are {@code (q @ queue^T) / t}.
     *
     * @param q     normalised queries (N, D)
     * @param k     normalised positive keys (N, D)
     * @param queue normalised negative keys, one per row (K, D); K may be 0
     * @param t     softmax temperature (0.07 in MoCo v1, 0.2 in v2)
     */
    public static NDArray logits(NDArray q, NDArray k, NDArray queue, double t) {
        checkTemperature(t);
        if (q.getShape().dimension() != 2 || !q.getShape().equals(k.getShape())) {
            throw new IllegalArgumentException("q and k must both be (N, D), got " + q.getShape() + " and " + k.getShape());
        }
        if (queue.getShape().dimension() != 2 || queue.getShape().get(1) != q.getShape().get(1)) {
            throw new IllegalArgumentException("queue must be (K, D) with D = " + q.getShape().get(1)
                    + " (one row per key), got " + queue.getShape());
        }
        NDArray positive = q.mul(k).sum(new int[] {1}, true);
        NDArray negative = q.matMul(ownedBy(queue.transpose(), q));
        return Scalars.div(NDArrays.concat(new NDList(positive, negative), 1), t); // not DJL div(Number): see Scalars
    }

    /**
     * Mean cross-entropy of {@code logits} (N, C) against target class 0, i.e. {@code -mean(log_softmax
     * (logits)[:, 0])}; log-softmax subtracts the row maximum (logsumexp), so large logits at small
     * temperatures do not overflow.
     */
    public static NDArray loss(NDArray logits) {
        return logits.logSoftmax(1).get(":, 0").mean().neg();
    }

    /** {@code loss(logits(q, k, queue, t))}; {@code q} and {@code k} must already be normalised. */
    public static NDArray loss(NDArray q, NDArray k, NDArray queue, double t) {
        return loss(logits(q, k, queue, t));
    }

    /**
     * The symmetric loss of the official CIFAR-10 demo notebook ({@code --symmetric}): each view is
     * once the query and once the key, {@code loss(q1, k2) + loss(q2, k1)}, both against the same
     * queue (the one before this step's keys are enqueued). It is the SUM of the two mean losses, not
     * their average, as in the notebook, so its value is about twice the asymmetric loss.
     */
    public static NDArray symmetricLoss(NDArray q1, NDArray q2, NDArray k1, NDArray k2, NDArray queue, double t) {
        return loss(q1, k2, queue, t).add(loss(q2, k1, queue, t));
    }

    /**
     * Top-k accuracies in percent for target class 0, as the official {@code accuracy(output, target,
     * topk)}. A row counts as correct at k when fewer than k logits are strictly greater than its
     * logit 0; with exact ties torch's {@code topk} order is unspecified, whereas we resolve ties in
     * favour of the positive (ties have probability zero with real-valued features).
     */
    public static float[] accuracy(NDArray logits, int... topk) {
        try (NDArray positive = logits.get(":, 0:1");
                NDArray negatives = logits.get(":, 1:");
                NDArray beaten = negatives.gt(positive);
                NDArray ranks = beaten.sum(new int[] {1})) {
            return Ranks.topkPercent(Ranks.toLongs(ranks), topk);
        }
    }

    /**
     * Moves a temporary derived from a long-lived array (the queue, the keys) to {@code owner}'s
     * manager: DJL attaches results to the first operand's manager, which would leak it there.
     */
    static NDArray ownedBy(NDArray temporary, NDArray owner) {
        temporary.attach(owner.getManager());
        return temporary;
    }

    static void checkTemperature(double t) {
        if (!(t > 0) || Double.isInfinite(t)) {
            throw new IllegalArgumentException("temperature must be finite and > 0, got " + t);
        }
    }
}
