package io.moco4j.loss;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.moco4j.util.Scalars;

/**
 * The MoCo v3 loss (Chen, Xie, He 2021; {@code contrastive_loss} in facebookresearch/moco-v3
 * {@code moco/builder.py}), single device: the other keys of the batch are the negatives, no queue.
 *
 * <pre>
 *   q, k   = normalize(q), normalize(k)            (done here, as in moco-v3)
 *   logits = q @ k^T / T                           (N, N), positives on the diagonal
 *   loss   = cross_entropy(logits, arange(N)) * 2T
 * </pre>
 *
 * The factor {@code 2T} is moco-v3's: it makes the gradient scale independent of T. With several
 * devices moco-v3 gathers all keys; here N is the whole batch. Results attach to the manager of the
 * first array argument.
 */
public final class InBatchContrastive {
    private InBatchContrastive() {}

    /** Normalised logits {@code normalize(q) @ normalize(k)^T / t}, (N, M). */
    public static NDArray logits(NDArray q, NDArray k, double t) {
        InfoNce.checkTemperature(t);
        if (q.getShape().dimension() != 2 || k.getShape().dimension() != 2 || q.getShape().get(1) != k.getShape().get(1)) {
            throw new IllegalArgumentException("q and k must be (N, D) and (M, D), got " + q.getShape() + " and " + k.getShape());
        }
        NDArray keys = InfoNce.ownedBy(InfoNce.normalize(k), q);
        return Scalars.div(InfoNce.normalize(q).matMul(InfoNce.ownedBy(keys.transpose(), q)), t);
    }

    /** {@code cross_entropy(logits(q, k, t), arange(N)) * 2t}; q and k are raw (un-normalised) outputs. */
    public static NDArray loss(NDArray q, NDArray k, double t) {
        if (q.getShape().get(0) != k.getShape().get(0)) {
            throw new IllegalArgumentException("q and k need the same batch size, got " + q.getShape() + " and " + k.getShape());
        }
        return loss(q, k, t, 0);
    }

    /**
     * moco-v3's {@code contrastive_loss} on one of several ranks: {@code k} holds the keys of every rank (all-gathered,
     * M = ranks x N rows) and this rank's N positives start at row {@code labelOffset} (rank x N), so the labels are
     * {@code arange(N) + labelOffset}. With offset 0 and M = N this is {@link #loss(NDArray, NDArray, double)}.
     */
    public static NDArray loss(NDArray q, NDArray k, double t, long labelOffset) {
        long n = q.getShape().get(0);
        if (labelOffset < 0 || labelOffset + n > k.getShape().get(0)) {
            throw new IllegalArgumentException("positives at rows " + labelOffset + ".." + (labelOffset + n)
                    + " do not fit " + k.getShape().get(0) + " keys");
        }
        NDArray logits = logits(q, k, t);
        NDManager manager = logits.getManager();
        NDArray diagonalIndex = manager.arange(Math.toIntExact(labelOffset), Math.toIntExact(labelOffset + n), 1, DataType.INT64).reshape(-1, 1);
        NDArray positiveLogProb = logits.logSoftmax(1).gather(diagonalIndex, 1);
        return Scalars.mul(positiveLogProb.mean().neg(), 2 * t);
    }

    /** moco-v3's forward: {@code loss(q1, k2) + loss(q2, k1)} (a sum of two means). */
    public static NDArray symmetricLoss(NDArray q1, NDArray q2, NDArray k1, NDArray k2, double t) {
        return loss(q1, k2, t).add(loss(q2, k1, t));
    }

    /**
     * Top-k accuracies in percent of finding each row's own key (the diagonal) among the batch's keys;
     * ties are resolved in favour of the positive, as in {@link InfoNce#accuracy}.
     */
    public static float[] accuracy(NDArray logits, int... topk) {
        return accuracy(logits, 0, topk);
    }

    /** As {@link #accuracy(NDArray, int...)} with row i's positive in column {@code labelOffset + i} (several ranks). */
    public static float[] accuracy(NDArray logits, long labelOffset, int... topk) {
        long n = logits.getShape().get(0);
        try (NDManager tmp = logits.getManager().newSubManager()) {
            NDArray index = tmp.arange(Math.toIntExact(labelOffset), Math.toIntExact(labelOffset + n), 1, DataType.INT64).reshape(-1, 1);
            NDArray positive = logits.gather(index, 1);
            positive.attach(tmp);
            NDArray beaten = logits.gt(positive);
            beaten.attach(tmp);
            NDArray ranks = beaten.sum(new int[] {1});
            ranks.attach(tmp);
            return Ranks.topkPercent(Ranks.toLongs(ranks), topk);
        }
    }
}
