package io.moco4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.training.GradientCollector;
import io.moco4j.loss.InBatchContrastive;
import io.moco4j.model.Encoder;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import io.moco4j.model.NoGrad;
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
 * over the global batch; no splits, no shuffling on one device). The predictor is trained with the query
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

    @Override
    public StepResult step(NDArray view1, NDArray view2, long step, double m) {
        NDArray k1;
        NDArray k2;
        // The two encoders are disjoint, so computing the keys before the queries changes no value; the
        // official code does it after them but, like here, after this step's momentum update.
        try (NoGrad ignored = NoGrad.enter()) {
            updateKeyEncoder(m);
            k1 = encoderK.forward(view1, true);
            k2 = encoderK.forward(view2, true);
        }
        NDArray loss;
        NDArray q1;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            q1 = predictor.forward(encoderQ.forward(view1, true), true);
            NDArray q2 = predictor.forward(encoderQ.forward(view2, true), true);
            loss = InBatchContrastive.symmetricLoss(q1, q2, k1, k2, temperature);
            gc.backward(loss);
        }
        float lossValue = loss.getFloat();
        float[] acc;
        try (NoGrad ignored = NoGrad.enter()) {
            acc = InBatchContrastive.accuracy(InBatchContrastive.logits(q1.stopGradient(), k2, temperature), 1, 5);
        }
        return new StepResult(lossValue, acc[0], acc[1]);
    }

    /**
     * Not yet on several ranks. What it needs, as moco-v3's builder: the keys of every rank all-gathered
     * ({@link io.moco4j.dist.KeyGather#forQueue}) as the columns of the logits, the labels offset by
     * {@link io.moco4j.dist.KeyGather#labelOffset} (rank * N), and SyncBN (BatchNorm statistics all-reduced over
     * the global batch in the forward pass, with matching gradients in backward) in the encoders and MLPs.
     */
    @Override
    public void distribute(io.moco4j.dist.Collectives ranks) {
        if (ranks.size() > 1) {
            throw new io.moco4j.util.UserException("MoCo v3 does not run on several processes yet (it needs SyncBN and "
                    + "the cross-rank key gather); train it in one process");
        }
        super.distribute(ranks);
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
