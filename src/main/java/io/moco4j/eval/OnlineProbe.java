package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.model.Encoder;
import io.moco4j.model.Tensors;
import io.moco4j.util.NoGrad;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An online linear probe, as solo-learn trains one beside every method: a linear classifier on the detached
 * pooled backbone features of the query encoder, trained on the training batches while MoCo trains, and scored on
 * the validation set at every epoch end ({@code probe_top1}). It says early whether the features are becoming
 * linearly separable, without a separate linear-probe run.
 *
 * <p>What differs from solo-learn (base.py: {@code classifier(feats.detach())} on the training forward's features of
 * both large crops, as a parameter group of the method's own optimizer with {@code classifier_lr} and no weight
 * decay): the features here come from a second forward of the first view in eval mode (BatchNorm with running
 * statistics), because MoCo's step is not to be touched and an eval-mode forward leaves every buffer of the
 * encoder as it was; and the classifier has its own SGD (momentum 0.9, no weight decay, {@code train.probe_lr}
 * times the run's schedule factor, so it decays with the run as solo-learn's group does). Its gradient is written
 * out by hand ({@code (softmax - onehot) / N} through the linear layer) and every op runs under {@link NoGrad}:
 * no graph is recorded, so nothing can reach the encoder's gradients. Its state (weights, momentum buffers and the
 * running training loss/top-1 of the epoch) goes into the run's checkpoints ({@link #state()}, {@link #restore}), so a
 * resumed run's probe continues where it stopped, as the encoder does.
 */
public final class OnlineProbe implements AutoCloseable {
    static final double MOMENTUM = 0.9;
    /** Tensor names of {@link #state()}: torch nn.Linear's for the layer, SGD's momentum_buffer for the velocities. */
    public static final String WEIGHT = "weight";
    public static final String BIAS = "bias";
    public static final String WEIGHT_MOMENTUM = "weight.momentum_buffer";
    public static final String BIAS_MOMENTUM = "bias.momentum_buffer";
    /**
     * INT64 (3): the raw bits of the epoch's summed training loss (a double: stored as its bits so it comes back
     * exactly; the archive keeps floats as float32), the correct and seen counts since the last evaluation.
     */
    public static final String TRAIN_SUMS = "train_sums";

    private final LinearClassifier classifier;
    private final NDArray weightVelocity;
    private final NDArray biasVelocity;
    private final int classes;
    private final double baseLr;
    private final ImageDataset val;
    private final ViewTransform evalTransform;
    private final int batchSize;
    private double lossSum;
    private long correct;
    private long seen;

    /**
     * @param val           labelled validation images (a fixed subset of --val, as the kNN monitor's queries)
     * @param evalTransform the evaluation view (as the kNN monitor's)
     */
    public OnlineProbe(int featureDim, int classes, double baseLr, long seed, NDManager parent, ImageDataset val,
                       ViewTransform evalTransform, int batchSize) {
        this.classifier = LinearClassifier.create(featureDim, classes, 0.01, seed, parent);
        NDManager m = classifier.weight().getManager();
        this.weightVelocity = m.zeros(new Shape(classes, featureDim), DataType.FLOAT32);
        this.biasVelocity = m.zeros(new Shape(classes), DataType.FLOAT32);
        this.classes = classes;
        this.baseLr = baseLr;
        this.val = val;
        this.evalTransform = evalTransform;
        this.batchSize = batchSize;
    }

    /**
     * One SGD step of the classifier on {@code images} (a training view, N x 3 x H x W) with their {@code labels}
     * (rows labelled {@link ImageDataset#UNLABELED} are left out), at {@code probe_lr x lrFactor}.
     */
    public void train(Encoder encoder, NDArray images, int[] labels, double lrFactor) {
        int n = 0;
        for (int l : labels) {
            if (l >= 0) {
                n++;
            }
        }
        if (n == 0) {
            return;
        }
        try (NoGrad ignored = NoGrad.enter(); NDManager step = images.getManager().newSubManager()) {
            NDArray feats = encoder.features(images, false);
            feats.attach(step);
            if (feats.getDataType() != DataType.FLOAT32) {
                feats = feats.toType(DataType.FLOAT32, false);
            }
            int[] rows = new int[n];
            float[] onehot = new float[n * classes];
            for (int i = 0, r = 0; i < labels.length; i++) {
                if (labels[i] >= 0) {
                    rows[r] = i;
                    onehot[r * classes + labels[i]] = 1;
                    r++;
                }
            }
            NDArray x = n == labels.length ? feats : feats.get(step.create(rows));
            NDArray target = step.create(onehot, new Shape(n, classes)).toDevice(x.getDevice(), false);
            NDArray logits = logits(x, step);
            NDArray logp = logits.logSoftmax(1);
            lossSum += -logp.mul(target).sum().getFloat();
            long[] predicted = logits.argMax(1).toLongArray();
            for (int r = 0; r < n; r++) {
                if (predicted[r] == labels[rows[r]]) {
                    correct++;
                }
            }
            seen += n;
            // d(mean cross-entropy)/d(logits) = (softmax - onehot) / n
            NDArray dLogits = logp.exp().sub(target).div(n);
            NDArray gradW = dLogits.transpose().matMul(x);
            NDArray gradB = dLogits.sum(new int[] {0});
            double lr = baseLr * lrFactor;
            weightVelocity.muli(MOMENTUM).addi(gradW);
            biasVelocity.muli(MOMENTUM).addi(gradB);
            NDArray stepW = weightVelocity.mul(lr); // results of ops on long-lived arrays attach to their manager:
            NDArray stepB = biasVelocity.mul(lr);   // hand them to the step's, which closes them
            stepW.attach(step);
            stepB.attach(step);
            classifier.weight().subi(stepW);
            classifier.bias().subi(stepB);
        }
    }

    /**
     * Top-1 (percent) on the validation set in eval mode, plus the training loss and top-1 since the last call:
     * {@code probe_top1}, {@code probe_train_top1}, {@code probe_train_loss}.
     */
    public Map<String, Double> evaluate(Encoder encoder) {
        long[] right = {0};
        long[] total = {0};
        try (NDManager m = encoder.manager().newSubManager()) {
            FeatureBank.forEachBatch(val, evalTransform, FeatureFunction.of(encoder, FeatureLayer.BACKBONE), batchSize, m,
                    (from, feats) -> {
                        long[] predicted;
                        try (NDManager batch = feats.getManager().newSubManager()) {
                            predicted = logits(feats, batch).argMax(1).toLongArray();
                        }
                        for (int i = 0; i < predicted.length; i++) {
                            int label = val.label(from + i);
                            if (label >= 0) {
                                total[0]++;
                                if (predicted[i] == label) {
                                    right[0]++;
                                }
                            }
                        }
                    });
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("probe_top1", total[0] == 0 ? Double.NaN : 100.0 * right[0] / total[0]);
        out.put("probe_train_top1", seen == 0 ? Double.NaN : 100.0 * correct / seen);
        out.put("probe_train_loss", seen == 0 ? Double.NaN : lossSum / seen);
        lossSum = 0;
        correct = 0;
        seen = 0;
        return out;
    }

    /** {@code x W^T + b} with every temporary, the transposed weight included, in {@code manager}. */
    private NDArray logits(NDArray x, NDManager manager) {
        NDArray wT = classifier.weight().transpose();
        wT.attach(manager);
        NDArray out = x.matMul(wT).add(classifier.bias());
        out.attach(manager);
        return out;
    }

    /**
     * The probe's whole training state, to be saved beside the model: {@link #WEIGHT}, {@link #BIAS}, their momentum
     * buffers and {@link #TRAIN_SUMS}. The arrays are the live ones except {@link #TRAIN_SUMS} (made in {@code manager}).
     */
    public Map<String, NDArray> state(NDManager manager) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        out.put(WEIGHT, classifier.weight());
        out.put(BIAS, classifier.bias());
        out.put(WEIGHT_MOMENTUM, weightVelocity);
        out.put(BIAS_MOMENTUM, biasVelocity);
        out.put(TRAIN_SUMS, manager.create(new long[] {Double.doubleToRawLongBits(lossSum), correct, seen}));
        return out;
    }

    /**
     * Continues from {@code state} as {@link #state} wrote it. Returns null when restored, else the reason it was not
     * (nothing saved, or saved for another number of classes or feature size): the probe then keeps its fresh state.
     */
    public String restore(Map<String, NDArray> state) {
        if (state.isEmpty()) {
            return "the checkpoint holds no online probe state (saved before probes were checkpointed, or with the probe off)";
        }
        for (String k : new String[] {WEIGHT, BIAS, WEIGHT_MOMENTUM, BIAS_MOMENTUM, TRAIN_SUMS}) {
            if (!state.containsKey(k)) {
                return "the checkpoint's online probe state lacks " + k;
            }
        }
        Shape w = classifier.weight().getShape();
        if (!state.get(WEIGHT).getShape().equals(w) || !state.get(WEIGHT_MOMENTUM).getShape().equals(w)
                || !state.get(BIAS).getShape().equals(classifier.bias().getShape())
                || !state.get(BIAS_MOMENTUM).getShape().equals(classifier.bias().getShape())) {
            return "the checkpoint's online probe is " + state.get(WEIGHT).getShape() + " (classes x features), this run's " + w;
        }
        long[] sums = state.get(TRAIN_SUMS).toLongArray();
        if (sums.length != 3) {
            return "the checkpoint's online probe " + TRAIN_SUMS + " has " + sums.length + " values, not 3";
        }
        try (NoGrad ignored = NoGrad.enter()) {
            Tensors.copyInto(classifier.weight(), state.get(WEIGHT));
            Tensors.copyInto(classifier.bias(), state.get(BIAS));
            Tensors.copyInto(weightVelocity, state.get(WEIGHT_MOMENTUM));
            Tensors.copyInto(biasVelocity, state.get(BIAS_MOMENTUM));
        }
        lossSum = Double.longBitsToDouble(sums[0]);
        correct = sums[1];
        seen = sums[2];
        return null;
    }

    public int validationImages() {
        return val.size();
    }

    public LinearClassifier classifier() {
        return classifier;
    }

    @Override
    public void close() {
        classifier.close();
    }
}
