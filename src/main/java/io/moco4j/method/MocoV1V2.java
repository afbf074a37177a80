package io.moco4j.method;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.training.GradientCollector;
import io.moco4j.dist.BnGroups;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.KeyGather;
import io.moco4j.loss.InfoNce;
import io.moco4j.model.Encoder;
import io.moco4j.model.Networks;
import io.moco4j.model.ResNet;
import io.moco4j.util.NoGrad;
import java.util.Map;

/**
 * MoCo v1/v2 (He et al. 2020; Chen et al. 2020; facebookresearch/moco {@code moco/builder.py}): a queue of past
 * keys as negatives. One {@link #step} is the official builder's {@code forward} plus the training loop's loss:
 *
 * <pre>
 *   f_k    = m f_k + (1 - m) f_q                     1. momentum update
 *   k      = unshuffle(normalize(f_k(shuffle(x2))))   2. keys, no gradient, Shuffle BN
 *   q      = normalize(f_q(x1))
 *   loss   = cross_entropy([q.k, q queue^T] / T, 0)   3. InfoNCE, positive in column 0; backward
 *   queue  = dequeue the oldest N keys, enqueue k     4. after the loss, which used the old queue
 * </pre>
 *
 * With {@code symmetric} (the official CIFAR-10 demo) each view is once the query and once the key and the loss is
 * the sum of both directions. v1 and v2 differ only in head, temperature and augmentation (configuration).
 */
public final class MocoV1V2 extends MomentumContrast {
    public static final String QUEUE = "queue";
    public static final String QUEUE_POINTER = "queue_ptr";

    private final KeyQueue queue;
    private KeyShuffler shuffler;
    private KeyGather gather;
    private final boolean symmetric;
    private final int version;

    public MocoV1V2(Encoder encoderQ, Encoder encoderK, KeyQueue queue, KeyShuffler shuffler, double temperature,
                  boolean symmetric, int version) {
        super(encoderQ, encoderK, temperature);
        this.queue = queue;
        this.shuffler = shuffler;
        this.symmetric = symmetric;
        this.version = version;
        this.gather = new KeyGather(collectives);
    }

    /** A fresh model: the key encoder starts as an exact copy of the query encoder, as in the paper. */
    public static MocoV1V2 initial(Encoder encoderQ, Encoder encoderK, KeyQueue queue, KeyShuffler shuffler,
                                 double temperature, boolean symmetric) {
        Networks.copy(encoderQ, encoderK);
        return new MocoV1V2(encoderQ, encoderK, queue, shuffler, temperature, symmetric, 2);
    }

    @Override
    public StepResult step(NDArray view1, NDArray view2, long step, double m) {
        // 1. momentum update and 2. keys. The official code computes the query first; the encoders are disjoint
        // (the update reads f_q's parameters, which the query pass does not change), so this order changes no value.
        NDArray k1 = null;
        NDArray k2;
        try (NoGrad ignored = NoGrad.enter()) {
            updateKeyEncoder(m);
            k2 = keys(view2, 2 * step);
            if (symmetric) {
                k1 = keys(view1, 2 * step + 1);
            }
        }
        // 3. queries and InfoNCE against this step's keys and the queue as it was before this step
        NDArray logits;
        NDArray loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            logits = InfoNce.logits(queries(view1), k2, queue.keys(), temperature);
            loss = InfoNce.loss(logits);
            if (symmetric) {
                loss = loss.add(InfoNce.loss(queries(view2), k1, queue.keys(), temperature));
            }
            backward(gc, loss);
        }
        float lossValue = loss.getFloat();
        float[] acc = InfoNce.accuracy(logits, 1, 5);
        // 4. the queue; a non-finite loss ends the run, and its keys must not reach the checkpoint's queue
        if (Float.isFinite(lossValue)) {
            dequeueAndEnqueue(k1, k2);
        }
        return new StepResult(lossValue, acc[0], acc[1]);
    }

    /**
     * Keys of {@code images} with Shuffle BN (the official {@code _batch_shuffle_ddp} / {@code _batch_unshuffle_ddp}):
     * the key encoder sees the batch permuted, so a key's BatchNorm group differs from its query's and batch
     * statistics cannot give the positive away; the keys are put back in the images' order.
     */
    private NDArray keys(NDArray images, long shuffleSeed) {
        KeyShuffler.Shuffled shuffled = shuffler.shuffle(images, shuffleSeed);
        NDArray k = InfoNce.normalize(forward(() -> encoderK.forward(shuffled.batch(), true)));
        return shuffled.restore(k);
    }

    /** Queries of {@code images}, with gradient: {@code normalize(f_q(x))}. */
    private NDArray queries(NDArray images) {
        return InfoNce.normalize(forward(() -> encoderQ.forward(images, true)));
    }

    /**
     * The official {@code _dequeue_and_enqueue}: this step's keys overwrite the oldest ones. On several ranks the
     * queue takes the keys of the whole global batch, in global batch order, so every rank's queue stays the same.
     * Symmetric mode enqueues both key sets at once, as the CIFAR-10 demo.
     */
    private void dequeueAndEnqueue(NDArray k1, NDArray k2) {
        queue.enqueue(symmetric ? NDArrays.concat(new NDList(gather.all(k1), gather.all(k2)), 0) : gather.all(k2));
    }

    /**
     * On several ranks: the encoders' BatchNorm splits S are groups of the global batch, so each rank runs S / N
     * of them on the images of those groups ({@link BnGroups}); Shuffle BN across ranks (the official
     * {@code _batch_shuffle_ddp}, same permutation as on one device, over the same groups) when it is on; every
     * rank's keys enter every rank's queue in global batch order.
     */
    @Override
    public void distribute(Collectives ranks) {
        super.distribute(ranks);
        int groups = 0;
        if (ranks.size() > 1 && encoderQ instanceof ResNet q && encoderK instanceof ResNet k) {
            groups = q.batchNormSplits();
            int perRank = BnGroups.perRank(groups, 0, ranks.size());
            q.setBatchNormSplits(perRank);
            k.setBatchNormSplits(perRank);
        }
        if (shuffler instanceof SingleDeviceShuffler local && ranks.size() > 1) {
            shuffler = new CrossProcessShuffle(ranks, local.seed(), groups);
        }
        gather = new KeyGather(ranks, groups);
    }

    public KeyQueue queue() {
        return queue;
    }

    @Override
    public Map<String, NDArray> extraState() {
        return Map.of(QUEUE, queue.keys());
    }

    @Override
    public Map<String, Long> counters() {
        return Map.of(QUEUE_POINTER, (long) queue.pointer());
    }

    @Override
    public int version() {
        return version;
    }

    @Override
    public void close() {
        queue.close();
        super.close();
    }
}
