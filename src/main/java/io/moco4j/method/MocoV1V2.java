package io.moco4j.method;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
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
 * MoCo v1/v2 (He et al. 2020; Chen et al. 2020): a queue of past keys as negatives. One {@link #step} does
 * what the official builder's forward and the training loop's loss do: the momentum update, keys under
 * no-grad with Shuffle BN, queries with autograd, InfoNCE with the positive in column 0, backward, then one
 * enqueue of this step's keys. v1 and v2 differ only in head, temperature and augmentation (configuration).
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

    /** A fresh model: the key encoder starts as an exact copy of the query encoder, as in the paper. */
    public static MocoV1V2 initial(Encoder encoderQ, Encoder encoderK, KeyQueue queue, KeyShuffler shuffler,
                                 double temperature, boolean symmetric) {
        Networks.copy(encoderQ, encoderK);
        return new MocoV1V2(encoderQ, encoderK, queue, shuffler, temperature, symmetric, 2);
    }

    @Override
    public StepResult step(NDArray view1, NDArray view2, long step, double m) {
        NDArray k1 = null;
        NDArray k2;
        try (NoGrad ignored = NoGrad.enter()) {
            updateKeyEncoder(m);
            k2 = keys(view2, 2 * step);
            if (symmetric) {
                k1 = keys(view1, 2 * step + 1);
            }
        }

        NDArray logits;
        NDArray loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray q1 = InfoNce.normalize(forward(() -> encoderQ.forward(view1, true)));
            logits = InfoNce.logits(q1, k2, queue.keys(), temperature);
            loss = InfoNce.loss(logits);
            if (symmetric) {
                NDArray q2 = InfoNce.normalize(forward(() -> encoderQ.forward(view2, true)));
                loss = loss.add(InfoNce.loss(q2, k1, queue.keys(), temperature));
            }
            gc.backward(lossForBackward(loss));
        }
        float lossValue = loss.getFloat();
        float[] acc = InfoNce.accuracy(logits, 1, 5);
        if (Float.isFinite(lossValue)) {
            // Enqueue after the loss used the old queue; both key sets at once in symmetric mode, as the CIFAR demo.
            // On several ranks the queue takes the keys of the whole global batch, in rank order.
            queue.enqueue(symmetric ? NDArrays.concat(new NDList(gather.all(k1), gather.all(k2)), 0)
                    : gather.all(k2));
        }
        return new StepResult(lossValue, acc[0], acc[1]);
    }

    /** Keys of {@code images}: shuffled through the key encoder (Shuffle BN), normalised, restored. */
    private NDArray keys(NDArray images, long shuffleSeed) {
        KeyShuffler.Shuffled shuffled = shuffler.shuffle(images, shuffleSeed);
        NDArray k = InfoNce.normalize(forward(() -> encoderK.forward(shuffled.batch(), true)));
        return shuffled.restore(k);
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
