package io.moco4j.method;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import io.moco4j.dist.KeyGather;
import io.moco4j.dist.SyncBatchNorm;
import io.moco4j.dist.SyncBnBackward;
import io.moco4j.loss.InBatchContrastive;
import io.moco4j.model.BatchNormHook;
import io.moco4j.model.Encoder;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import io.moco4j.util.NoGrad;
import java.util.LinkedHashMap;

/**
 * MoCo v3 (Chen, Xie, He, ICCV 2021; facebookresearch/moco-v3 {@code moco/builder.py}): no queue; the query
 * side is encoder + projector + predictor, the momentum side encoder + projector; the negatives are the other
 * keys of the batch, and the loss is symmetric:
 *
 * <pre>
 *   q1, q2 = predictor(f_q(x1)), predictor(f_q(x2))
 *   f_k    = m f_k + (1 - m) f_q                           (this step's momentum update, before the keys)
 *   k1, k2 = f_k(x1), f_k(x2)                              (no gradient)
 *   loss   = ctr(q1, k2) + ctr(q2, k1),  ctr = cross_entropy(normalize(q) normalize(k)^T / T, arange(N)) * 2T
 * </pre>
 *
 * Each view is its own forward, so BatchNorm statistics are over the whole view batch (the official SyncBN
 * over the global batch; no splits, no shuffling). The predictor is trained with the query
 * encoder; its parameters are named {@code predictor.*} for the optimizer and the checkpoint.
 */
public final class MocoV3 extends MomentumContrast {
    public static final String PREDICTOR = "predictor.";

    private final Network predictor;

    public MocoV3(Encoder encoderQ, Encoder encoderK, Network predictor, double temperature) {
        super(encoderQ, encoderK, temperature);
        this.predictor = predictor;
        Networks.setRequiresGradient(predictor, true);
    }

    /** A fresh model: the momentum encoder starts as an exact copy of the base encoder. */
    public static MocoV3 initial(Encoder encoderQ, Encoder encoderK, Network predictor, double temperature) {
        Networks.copy(encoderQ, encoderK);
        return new MocoV3(encoderQ, encoderK, predictor, temperature);
    }

    /**
     * The official {@code forward} plus the loss's backward, on one rank or several (main_moco.py with
     * DistributedDataParallel after {@code convert_sync_batchnorm} of the whole model). On one rank the key
     * gather is the identity, the positives sit at offset 0 and BatchNorm is libtorch's own. On several, every
     * BatchNorm (ResNet's BN2d in both encoders, the MLPs' BN1d; a ViT has only the latter) normalises over the
     * global per-view batch ({@link SyncBatchNorm}), the momentum encoder's too although it runs without gradient
     * (in training mode, as the official); the keys of every rank are all-gathered ({@code concat_all_gather}) as
     * the columns of the logits and this rank's positives sit at rank x N; the backward runs through
     * {@link SyncBnBackward}, which makes the SyncBN gradients exact. The loss is this rank's (mean over its N
     * queries, x 2T); the caller averages gradients over ranks, which gives the single-process loss's gradient
     * over the global batch.
     */
    @Override
    public StepResult step(NDArray view1, NDArray view2, long step, double m) {
        KeyGather gather = new KeyGather(collectives);
        long offset = gather.labelOffset(Math.toIntExact(view1.getShape().get(0)));
        SyncBnBackward syncBackward = collectives.size() > 1 ? new SyncBnBackward(collectives) : null;

        // 1. momentum update and 2. the keys of every rank (no gradient). The official code computes the queries
        // first; the encoders are disjoint, so this order changes no value. The gather is the official
        // concat_all_gather, done here once per key set rather than inside each contrastive_loss.
        NDArray k1;
        NDArray k2;
        try (NoGrad ignored = NoGrad.enter(); BatchNormHook.Scope bn = syncBatchNorm(null)) {
            updateKeyEncoder(m);
            NDArray[] k = forwardTogether(() -> keys(view1), () -> keys(view2));
            k1 = gather.all(k[0]);
            k2 = gather.all(k[1]);
        }
        // 3. the queries and the symmetric loss ctr(q1, k2) + ctr(q2, k1), then its backward
        NDArray loss;
        NDArray q1;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray q2;
            try (BatchNormHook.Scope bn = syncBatchNorm(syncBackward)) {
                NDArray[] q = forwardTogether(() -> queries(view1), () -> queries(view2)); // one weight cast per step
                q1 = q[0];
                q2 = q[1];
            }
            loss = contrastiveLoss(q1, k2, offset).add(contrastiveLoss(q2, k1, offset));
            if (syncBackward == null) {
                backward(gc, loss);
            } else {
                syncBackward.backward(lossForBackward(loss)); // continues through every SyncBN cut
            }
        }
        // (no 4.: v3 has no queue; the negatives were the batch's other keys)
        float lossValue = loss.getFloat();
        float[] acc;
        try (NoGrad ignored = NoGrad.enter()) {
            acc = InBatchContrastive.accuracy(InBatchContrastive.logits(q1.stopGradient(), k2, temperature), offset, 1, 5);
        }
        return new StepResult(lossValue, acc[0], acc[1]);
    }

    /**
     * Momentum features as targets: {@code f_k(x)} (encoder + projector), un-normalised as in the official; in the
     * precision's dtype (run it through {@link #forwardTogether}).
     */
    private NDArray keys(NDArray images) {
        return encoderK.forward(images, true);
    }

    /** Queries, with gradient: {@code predictor(f_q(x))}; in the precision's dtype (run it through {@link #forwardTogether}). */
    private NDArray queries(NDArray images) {
        return predictor.forward(encoderQ.forward(images, true), true);
    }

    /**
     * The official {@code contrastive_loss(q, k)}: {@code cross_entropy(normalize(q) normalize(k)^T / T, labels) * 2T}
     * with this rank's positives at {@code labels = arange(N) + offset} among the gathered keys; the factor 2T keeps
     * the gradient's scale independent of T ({@link InBatchContrastive#loss(NDArray, NDArray, double, long)}).
     */
    private NDArray contrastiveLoss(NDArray q, NDArray k, long offset) {
        return InBatchContrastive.loss(q, k, temperature, offset);
    }

    /** SyncBN over the ranks while the scope is open; libtorch's BatchNorm (no hook) on one rank. */
    private BatchNormHook.Scope syncBatchNorm(SyncBnBackward backward) {
        return collectives.size() > 1 ? BatchNormHook.install(new SyncBatchNorm(collectives, backward)) : BatchNormHook.Scope.NONE;
    }

    @Override
    public LinkedHashMap<String, NDArray> trainableParameters() {
        LinkedHashMap<String, NDArray> p = super.trainableParameters();
        predictor.parameters().forEach((k, v) -> p.put(PREDICTOR + k, v));
        return p;
    }

    @Override
    public LinkedHashMap<String, Network> networks() {
        LinkedHashMap<String, Network> n = super.networks();
        n.put(PREDICTOR, predictor);
        return n;
    }

    public Network predictor() {
        return predictor;
    }

    @Override
    public int version() {
        return 3;
    }

    @Override
    public void close() {
        predictor.close();
        super.close();
    }
}
