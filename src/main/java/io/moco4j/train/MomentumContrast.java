package io.moco4j.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.moco4j.loss.InfoNce;
import io.moco4j.model.Networks;
import io.moco4j.model.NoGrad;
import io.moco4j.model.ResNet;
import io.moco4j.optim.Sgd;

/**
 * MoCo v1/v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by SGD, a key encoder that
 * follows it by a momentum (EMA) update over parameters, and a queue of past keys as negatives.
 *
 * <p>One {@link #step} does what the official builder's forward and the training loop's loss do: the
 * momentum update, keys under no-grad with Shuffle BN, queries with autograd, InfoNCE with the
 * positive in column 0, backward (gradients are left on the query encoder's parameters for the
 * optimizer), then one enqueue of this step's keys.
 */
public final class MomentumContrast implements AutoCloseable {
    private final ResNet encoderQ;
    private final ResNet encoderK;
    private final KeyQueue queue;
    private final KeyShuffler shuffler;
    private final double momentum;
    private final double temperature;
    private final boolean symmetric;

    /** Loss and (K+1)-way contrastive accuracy (percent) of one step. */
    public record StepResult(float loss, float acc1, float acc5) {}

    public MomentumContrast(ResNet encoderQ, ResNet encoderK, KeyQueue queue, KeyShuffler shuffler,
                            double momentum, double temperature, boolean symmetric) {
        this.encoderQ = encoderQ;
        this.encoderK = encoderK;
        this.queue = queue;
        this.shuffler = shuffler;
        this.momentum = momentum;
        this.temperature = temperature;
        this.symmetric = symmetric;
        Networks.setRequiresGradient(encoderQ, true);
        // The key encoder is never trained by gradients; without requiresGradient no graph is built for it.
        Networks.setRequiresGradient(encoderK, false);
    }

    /**
     * A fresh model: the key encoder starts as an exact copy of the query encoder, as in the paper.
     */
    public static MomentumContrast initial(ResNet encoderQ, ResNet encoderK, KeyQueue queue, KeyShuffler shuffler,
                                           double momentum, double temperature, boolean symmetric) {
        Networks.copy(encoderQ, encoderK);
        return new MomentumContrast(encoderQ, encoderK, queue, shuffler, momentum, temperature, symmetric);
    }

    /**
     * One training step on two views of the same images (N x 3 x H x W, in the step's manager).
     * Gradients of the loss are left on {@link #encoderQ()}'s parameters; temporaries attach to the
     * views' manager, which the caller closes after the optimizer step.
     *
     * @param step the global step, which seeds the Shuffle BN permutation (so resumed runs repeat it)
     */
    public StepResult step(NDArray view1, NDArray view2, long step) {
        NDArray k1 = null;
        NDArray k2;
        try (NoGrad ignored = NoGrad.enter()) {
            Networks.momentumUpdate(encoderK, encoderQ, momentum);
            k2 = keys(view2, 2 * step);
            if (symmetric) {
                k1 = keys(view1, 2 * step + 1);
            }
        }

        NDArray logits;
        NDArray loss;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray q1 = InfoNce.normalize(encoderQ.forward(view1, true));
            logits = InfoNce.logits(q1, k2, queue.keys(), temperature);
            loss = InfoNce.loss(logits);
            if (symmetric) {
                NDArray q2 = InfoNce.normalize(encoderQ.forward(view2, true));
                loss = loss.add(InfoNce.loss(q2, k1, queue.keys(), temperature));
            }
            gc.backward(loss);
        }
        float lossValue = loss.getFloat();
        float[] acc = InfoNce.accuracy(logits, 1, 5);
        if (Float.isFinite(lossValue)) {
            // Enqueue after the loss used the old queue; both key sets at once in symmetric mode, as the CIFAR demo.
            queue.enqueue(symmetric ? NDArrays.concat(new NDList(k1, k2), 0) : k2);
        }
        return new StepResult(lossValue, acc[0], acc[1]);
    }

    /**
     * One optimisation step: zeroes the query encoder's gradients (DJL accumulates them), runs {@link #step},
     * and applies {@code sgd} at {@code lr} unless the loss is not finite (the caller then stops the run).
     */
    public StepResult train(NDArray view1, NDArray view2, long step, Sgd sgd, double lr) {
        Sgd.zeroGrad(encoderQ.parameters());
        StepResult r = step(view1, view2, step);
        if (Float.isFinite(r.loss())) {
            sgd.step(encoderQ.parameters(), lr);
        }
        return r;
    }

    /** Keys of {@code images}: shuffled through the key encoder (Shuffle BN), normalised, restored. */
    private NDArray keys(NDArray images, long shuffleSeed) {
        KeyShuffler.Shuffled shuffled = shuffler.shuffle(images, shuffleSeed);
        NDArray k = InfoNce.normalize(encoderK.forward(shuffled.batch(), true));
        return shuffled.restore(k);
    }

    public ResNet encoderQ() {
        return encoderQ;
    }

    public ResNet encoderK() {
        return encoderK;
    }

    public KeyQueue queue() {
        return queue;
    }

    public NDManager manager() {
        return encoderQ.manager();
    }

    @Override
    public void close() {
        queue.close();
        encoderK.close();
        encoderQ.close();
    }
}
