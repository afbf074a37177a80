package io.moco4j.eval;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.SampleSeeds;
import io.moco4j.data.ViewTransform;
import io.moco4j.io.AtomicFiles;
import io.moco4j.io.MetricsLog;
import io.moco4j.model.Encoder;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.util.NoGrad;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Linear classification on frozen features, the protocol of the official {@code main_lincls.py}: the
 * pretrained backbone runs in eval mode (BatchNorm statistics frozen) without gradients; only a new
 * linear layer is trained with SGD and cross-entropy; validation uses the evaluation transform (resize +
 * centre crop). A CRC of every backbone tensor is taken before training and checked after the first
 * epoch and at the end; any change fails the run (the reference's {@code sanity_check}).
 *
 * <p>Validation features never change (frozen backbone, deterministic transform), so they are extracted
 * once. In fast mode ({@code augment=false}) the training features are cached too.
 *
 * <p>Run directory: {@code config.json}; {@code metrics.jsonl} with one
 * {@code {"type":"lincls_epoch","epoch":E,"lr":..,"train_loss":..,"train_top1":..,"val_loss":..,"val_top1":..,"val_top5":..,"epoch_seconds":..}}
 * line per epoch (E 0-based, accuracies in percent); {@code classifier_last.npz} and
 * {@code classifier_best.npz} (best val top-1; each a zip of {@code fc.weight.npy} (C, D),
 * {@code fc.bias.npy} (C) and {@code meta.json}, readable by {@code numpy.load}); {@code result.json}.
 */
public final class LinearProbe {
    private static final Logger LOG = LoggerFactory.getLogger(LinearProbe.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The outcome: best and last validation accuracy (percent) and the files written. */
    public record Result(double bestTop1, double bestTop5, int bestEpoch, double lastTop1, double lastTop5,
                         double lastTrainLoss, Path runDir) {}

    private LinearProbe() {}

    /** Probes the pooled backbone (or head, per {@code config.layer()}) of a pretrained encoder. */
    public static Result run(Encoder encoder, ImageDataset train, ImageDataset val, ViewTransform trainTransform,
                             ViewTransform evalTransform, LinearProbeConfig config, Path runDir, PrintStream out) {
        try (NDManager m = encoder.manager().newSubManager()) {
            return run(FeatureFunction.of(encoder, config.layer()), encoder.stateDict(), train, val, trainTransform,
                    evalTransform, config, m, runDir, out);
        }
    }

    /**
     * @param features the frozen feature extractor (eval mode)
     * @param frozenState every tensor of the backbone, checked to be unchanged
     * @param trainTransform random training views (RandomResizedCrop + flip); unused when {@code augment} is off
     * @param out where to print one progress line per epoch, or null
     */
    public static Result run(FeatureFunction features, Map<String, NDArray> frozenState, ImageDataset train, ImageDataset val,
                             ViewTransform trainTransform, ViewTransform evalTransform, LinearProbeConfig config,
                             NDManager manager, Path runDir, PrintStream out) {
        KnnMonitor.requireLabels(train, "training");
        KnnMonitor.requireLabels(val, "validation");
        if (!train.classes().equals(val.classes())) {
            throw new UserException("training and validation sets have different classes (" + train.classes().size() + " vs "
                    + val.classes().size() + "); use the same class folders in both");
        }
        if (train.size() == 0 || val.size() == 0) {
            throw new UserException("the linear probe needs non-empty training and validation sets");
        }
        int classes = train.classes().size();
        long[] trainLabels = labels(train);
        Knn.checkLabels("training", trainLabels, classes);
        StateChecksum frozen = StateChecksum.of(frozenState);
        try {
            Files.createDirectories(runDir);
            Files.writeString(runDir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
        } catch (IOException e) {
            throw new UserException("cannot create the linear probe run directory " + runDir + " (" + e.getMessage() + ")", e);
        }
        try (NDManager m = manager.newSubManager();
             Features valFeatures = FeatureBank.extract(val, evalTransform, features, config.layer(), config.evalBatchSize(), m);
             Features cached = config.augment() ? null
                     : FeatureBank.extract(train, evalTransform, features, config.layer(), config.evalBatchSize(), m);
             LinearClassifier fc = LinearClassifier.create(Math.toIntExact(valFeatures.dim()), classes, config.initStd(), config.seed(), m);
             Sgd sgd = new Sgd(new SgdConfig(config.momentum(), config.weightDecay(), 0, false));
             MetricsLog metrics = new MetricsLog(runDir.resolve("metrics.jsonl"))) {
            Knn.checkLabels("validation", valFeatures.labels(), classes);
            frozen.verifyUnchanged(StateChecksum.of(frozenState), "while extracting features");
            double best = -1;
            double bestTop5 = 0;
            int bestEpoch = -1;
            double[] last = null;
            double lastTrainLoss = Double.NaN;
            for (int epoch = 0; epoch < config.epochs(); epoch++) {
                long start = System.nanoTime();
                double lr = config.lrAt(epoch);
                double[] trainStats = trainEpoch(fc, sgd, features, cached, train, trainLabels, trainTransform, config, epoch, lr, m);
                lastTrainLoss = trainStats[0];
                last = validate(fc, valFeatures, classes, config.evalBatchSize(), m);
                if (epoch == 0) {
                    frozen.verifyUnchanged(StateChecksum.of(frozenState), "after the first epoch");
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                ObjectNode rec = MetricsLog.record("lincls_epoch").put("epoch", epoch).put("lr", lr)
                        .put("train_loss", trainStats[0]).put("train_top1", trainStats[1])
                        .put("val_loss", last[0]).put("val_top1", last[1]).put("val_top5", last[2]).put("epoch_seconds", seconds);
                metrics.write(rec);
                String meta = meta(config, epoch, last, classes, train, valFeatures);
                fc.save(runDir.resolve("classifier_last.npz"), meta);
                if (last[1] > best) {
                    best = last[1];
                    bestTop5 = last[2];
                    bestEpoch = epoch;
                    fc.save(runDir.resolve("classifier_best.npz"), meta);
                }
                if (out != null) {
                    out.printf(Locale.ROOT, "lincls epoch %d/%d: lr %.4g, train loss %.4f, train top-1 %.2f%%, val top-1 %.2f%%, top-5 %.2f%% (best %.2f%%), %.1f s%n",
                            epoch + 1, config.epochs(), lr, trainStats[0], trainStats[1], last[1], last[2], best, seconds);
                }
            }
            frozen.verifyUnchanged(StateChecksum.of(frozenState), "during linear probing");
            Result result = new Result(best, bestTop5, bestEpoch, last[1], last[2], lastTrainLoss, runDir);
            ObjectNode r = JSON.createObjectNode().put("best_top1", best).put("best_top5", bestTop5).put("best_epoch", bestEpoch)
                    .put("last_top1", last[1]).put("last_top5", last[2]).put("layer", config.layer().id())
                    .put("mode", config.augment() ? "augmented" : "cached-features").put("backbone_unchanged", true)
                    .put("backbone_tensors_checked", frozen.size());
            AtomicFiles.write(runDir.resolve("result.json"), o -> o.write(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r)));
            return result;
        } catch (IOException e) {
            throw new UserException("cannot write linear probe results to " + runDir + " (" + e.getMessage() + ")", e);
        }
    }

    /** One pass over the shuffled training set; returns {mean loss, top-1 percent}. */
    private static double[] trainEpoch(LinearClassifier fc, Sgd sgd, FeatureFunction features, Features cached,
                                       ImageDataset train, long[] trainLabels, ViewTransform trainTransform,
                                       LinearProbeConfig config, int epoch, double lr, NDManager parent) {
        int n = train.size();
        int[] order = SampleSeeds.permutation(n, new Random(ImageBatcher.mix(config.seed(), epoch, -1)));
        double lossSum = 0;
        long correct = 0;
        for (int from = 0; from < n; from += config.batchSize()) {
            int to = Math.min(n, from + config.batchSize());
            try (NDManager step = parent.newSubManager()) {
                long[] batchLabels = new long[to - from];
                long[] rows = new long[to - from];
                for (int i = from; i < to; i++) {
                    rows[i - from] = order[i];
                    batchLabels[i - from] = trainLabels[order[i]];
                }
                NDArray x;
                if (cached != null) {
                    x = cached.values().get(new NDIndex("{}", step.create(rows)));
                } else {
                    try (NoGrad ignored = NoGrad.enter()) {
                        NDArray images = ImageBatcher.load(train, order, from, to, trainTransform, config.seed(), epoch, step);
                        x = features.apply(images);
                    }
                }
                x.attach(step);
                NDArray y = step.create(batchLabels);
                StepResult r = trainStep(fc, sgd, x, y, lr);
                lossSum += r.loss() * (to - from);
                float[] logits = r.logits();
                correct += countTopK(logits, batchLabels, Math.toIntExact(fc.weight().getShape().get(0)), 1);
            }
        }
        return new double[] {lossSum / n, 100.0 * correct / n};
    }

    /** Loss of a training step (before the update) and the logits it was computed from, copied to the host. */
    record StepResult(float loss, float[] logits) {}

    /**
     * One SGD step of the classifier on features {@code x} (N, D) with int64 labels {@code y}: zero the
     * gradients, cross-entropy, backward, update. Temporaries attach to {@code x}'s manager.
     */
    static StepResult trainStep(LinearClassifier fc, Sgd sgd, NDArray x, NDArray y, double lr) {
        Map<String, NDArray> params = fc.parameters();
        Sgd.zeroGrad(params);
        float loss;
        float[] logits;
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray z = fc.logits(x);
            NDArray l = crossEntropy(z, y, fc.weight().getShape().get(0));
            gc.backward(l);
            loss = l.getFloat();
            logits = z.toFloatArray();
        }
        sgd.step(params, lr);
        return new StepResult(loss, logits);
    }

    /** Returns {mean loss, top-1 percent, top-5 percent} on the cached validation features. */
    private static double[] validate(LinearClassifier fc, Features val, int classes, int batch, NDManager parent) {
        int n = val.size();
        double lossSum = 0;
        long c1 = 0;
        long c5 = 0;
        try (NoGrad ignored = NoGrad.enter()) {
            for (int from = 0; from < n; from += batch) {
                int to = Math.min(n, from + batch);
                try (NDManager step = parent.newSubManager()) {
                    NDArray x = val.values().get(new NDIndex(from + ":" + to));
                    x.attach(step);
                    long[] labels = java.util.Arrays.copyOfRange(val.labels(), from, to);
                    NDArray z = fc.logits(x);
                    lossSum += crossEntropy(z, step.create(labels), classes).getFloat() * (to - from);
                    float[] logits = z.toFloatArray();
                    c1 += countTopK(logits, labels, classes, 1);
                    c5 += countTopK(logits, labels, classes, Math.min(5, classes));
                }
            }
        }
        return new double[] {lossSum / n, 100.0 * c1 / n, 100.0 * c5 / n};
    }

    /** Mean cross-entropy of logits (N, C) against int64 labels (N), as {@code nn.CrossEntropyLoss}. */
    static NDArray crossEntropy(NDArray logits, NDArray labels, long classes) {
        NDArray logp = logits.logSoftmax(1);
        NDArray picked = logp.mul(labels.oneHot(Math.toIntExact(classes))).sum(new int[] {1});
        return picked.mean().neg();
    }

    /** Number of rows whose label is among the k best logits (ties: lower class index first). */
    static long countTopK(float[] logits, long[] labels, int classes, int k) {
        double[] row = new double[classes];
        long hits = 0;
        for (int i = 0; i < labels.length; i++) {
            for (int c = 0; c < classes; c++) {
                row[c] = logits[i * classes + c];
            }
            if (ClassRanking.rankOf(row, 0, classes, (int) labels[i]) < k) {
                hits++;
            }
        }
        return hits;
    }

    private static long[] labels(ImageDataset ds) {
        long[] l = new long[ds.size()];
        for (int i = 0; i < l.length; i++) {
            l[i] = ds.label(i);
        }
        return l;
    }

    private static String meta(LinearProbeConfig config, int epoch, double[] val, int classes, ImageDataset train, Features valFeatures)
            throws IOException {
        ObjectNode o = JSON.createObjectNode().put("format", "moco4j-linear-classifier").put("epoch", epoch)
                .put("val_top1", val[1]).put("val_top5", val[2]).put("layer", config.layer().id())
                .put("in_dim", valFeatures.dim()).put("classes", classes);
        o.putPOJO("class_names", train.classes());
        return JSON.writeValueAsString(o);
    }
}
