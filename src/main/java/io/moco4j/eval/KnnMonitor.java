package io.moco4j.eval;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.model.Encoder;
import io.moco4j.precision.Precision;
import io.moco4j.util.UserException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * kNN monitor for pretraining: every {@code every} epochs (and after the last one), extracts features of
 * the current query encoder in eval mode for a fixed subset of the training set (the bank) and of the
 * validation set (the queries), both with the evaluation transform, and scores the queries with
 * {@link Knn}. The subsets are drawn once, so values are comparable from epoch to epoch. The official
 * CIFAR-10 demo uses the whole train set as bank, the whole test set as queries, k 200, t 0.1 and the
 * head output; our default is the pooled backbone (see {@link FeatureLayer}).
 */
public final class KnnMonitor implements EpochEvaluator {
    private static final Logger LOG = LoggerFactory.getLogger(KnnMonitor.class);

    /**
     * @param every epochs between runs; 0 disables the monitor
     * @param trainSubset bank images drawn from the training set; 0 = all
     * @param valSubset query images drawn from the validation set; 0 = all
     */
    public record Config(int every, int k, double t, int trainSubset, int valSubset, int batchSize, int chunk,
                         FeatureLayer layer, long seed) {
        public static Config of(int every, int k, double t, int trainSubset, int valSubset) {
            return new Config(every, k, t, trainSubset, valSubset, 256, 256, FeatureLayer.BACKBONE, 0);
        }

        /** From the {@code train.knn_*} settings; feature batches use the training batch size. */
        public static Config from(MocoConfig.Train train) {
            return new Config(train.knnEvery(), train.knnK(), train.knnT(), train.knnTrainSubset(), train.knnValSubset(),
                    train.batchSize(), 256, FeatureLayer.BACKBONE, train.seed());
        }
    }

    private final ImageDataset bank;
    private final ImageDataset queries;
    private final ViewTransform transform;
    private final Config config;
    private final int numClasses;
    /** The training run's precision: the monitor's forward passes follow it (features are float32 either way). */
    private Precision precision = Precision.FP32;

    public KnnMonitor(ImageDataset train, ImageDataset val, ViewTransform evalTransform, Config config) {
        if (config.every() > 0) {
            requireLabels(train, "training");
            requireLabels(val, "validation");
            if (!train.classes().equals(val.classes())) {
                throw new UserException("the kNN monitor's training and validation sets have different classes ("
                        + train.classes().size() + " vs " + val.classes().size() + "); use the same class folders in both");
            }
        }
        this.bank = DatasetSubset.random(train, config.trainSubset(), config.seed());
        this.queries = DatasetSubset.random(val, config.valSubset(), config.seed() + 1);
        this.transform = evalTransform;
        this.config = config;
        this.numClasses = train.classes().size();
    }

    /**
     * Decodes and transforms the first image of the bank and of the queries, so data the evaluation cannot
     * use is reported before the first training step instead of at the first evaluation, epochs later.
     */
    public void checkData() {
        if (config.every() <= 0) {
            return;
        }
        LOG.info("kNN monitor: {}", ProbeTransforms.describe(transform));
        checkFirst(bank, "training");
        checkFirst(queries, "validation");
    }

    private void checkFirst(ImageDataset ds, String which) {
        if (ds.size() == 0) {
            throw new UserException("the kNN monitor's " + which + " set is empty; give --val a folder with images or turn the monitor off (train.knn_every=0)");
        }
        float[] out = new float[3 * transform.height() * transform.width()];
        try {
            transform.apply(ds.load(0), new java.util.SplittableRandom(0), out, 0);
        } catch (java.io.IOException e) {
            throw new UserException("the kNN monitor cannot read " + ds.describe(0) + " of its " + which + " set ("
                    + e.getMessage() + "); fix the file or turn the monitor off (train.knn_every=0)", e);
        } catch (RuntimeException e) {
            throw new UserException("the kNN monitor's evaluation transform fails on " + ds.describe(0) + " of its " + which
                    + " set (" + e.getMessage() + "); fix the data or turn the monitor off (train.knn_every=0)", e);
        }
    }

    static void requireLabels(ImageDataset ds, String which) {
        if (!ds.isLabeled()) {
            throw new UserException("the " + which + " set has no labels but kNN evaluation needs them; "
                    + "use a folder with one sub-folder per class (or turn the kNN monitor off)");
        }
    }

    /** Whether to run after 0-based {@code epoch} of {@code epochs}. */
    @Override
    public boolean due(int epoch, int epochs) {
        return config.every() > 0 && ((epoch + 1) % config.every() == 0 || epoch + 1 == epochs);
    }

    /** Runs the monitor's forward passes in {@code precision} (the training run's); fp32 by default. */
    public KnnMonitor inPrecision(Precision precision) {
        this.precision = precision;
        return this;
    }

    /** Scores the encoder; the result map has {@code knn_top1} and {@code knn_top5} in percent, as logged. */
    @Override
    public Map<String, Double> evaluate(Encoder encoder, int epoch) {
        try (NDManager m = encoder.manager().newSubManager()) {
            KnnResult r = run(FeatureFunction.of(encoder, config.layer()).inPrecision(precision, m.getDevice()), m);
            LOG.info("epoch {}: {} ({} features, bank {} images)", epoch + 1, r, config.layer().id(), bank.size());
            return metrics(r);
        }
    }

    /** Extracts bank and query features with {@code features} in {@code manager} (freed on return) and scores them. */
    public KnnResult run(FeatureFunction features, NDManager manager) {
        try (NDManager m = manager.newSubManager();
             Features b = FeatureBank.extract(bank, transform, features, config.layer(), config.batchSize(), m);
             Features q = FeatureBank.extract(queries, transform, features, config.layer(), config.batchSize(), m)) {
            return Knn.evaluate(b.values(), b.labels(), q.values(), q.labels(), numClasses, config.k(), config.t(), config.chunk());
        }
    }

    public static Map<String, Double> metrics(KnnResult r) {
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("knn_top1", r.top1());
        out.put("knn_top5", r.top5());
        return out;
    }

    public Config config() {
        return config;
    }

    public int bankSize() {
        return bank.size();
    }

    public int querySize() {
        return queries.size();
    }

    @Override
    public void close() {}
}
