package io.moco4j.train;

import io.moco4j.config.MocoConfig;
import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.GeneratedScenes;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewLoader;
import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.Recipe;
import io.moco4j.data.augment.Recipes;
import io.moco4j.dist.BnGroups;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.ShardedOrder;
import io.moco4j.eval.EpochEvaluator;
import io.moco4j.eval.KnnMonitor;
import io.moco4j.model.Encoder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a pretraining run reads: the training images with their two augmented views, and optionally a
 * labelled validation set with its evaluation transform for the kNN monitor.
 *
 * @param val validation images, or null when there are none (the kNN monitor is then off)
 */
public record TrainingData(ImageDataset train, ImageDataset val, List<ViewTransform> views, ViewTransform evalTransform,
                           String description) {

    /** The built-in generated scenes are always the same images, whatever the training seed. */
    static final long GENERATED_SEED = 0;

    /**
     * Opens {@code data.path} (or the built-in generated set when empty) and {@code data.val}, with the
     * configured augmentation recipe at the configured image size.
     */
    public static TrainingData open(MocoConfig cfg) {
        Path data = cfg.data().path().isEmpty() ? null : Path.of(cfg.data().path());
        Path val = cfg.data().val().isEmpty() ? null : Path.of(cfg.data().val());
        int size = cfg.train().imageSize();
        io.moco4j.data.ImageDecoder.setMaxPixels(cfg.data().maxPixels());
        List<ViewTransform> views = trainViews(cfg.train().augment(), size, cfg.train().cropMin());
        ViewTransform eval = evalTransform(size);
        if (data == null) {
            int side = size >= 64 ? 64 : 32;
            ImageDataset train = GeneratedScenes.train(cfg.data().generatedTrain(), GENERATED_SEED, side);
            ImageDataset test = GeneratedScenes.test(cfg.data().generatedVal(), GENERATED_SEED, side);
            return new TrainingData(train, test, views, eval, "the built-in generated scenes (" + side + " px)");
        }
        ImageDataset train = DataSources.open(data.toString(), DataSplit.TRAIN, cfg.data().unlabeled(), cfg.data().strict());
        ImageDataset valSet = val == null ? null : DataSources.open(val.toString(), DataSplit.TEST, false, cfg.data().strict());
        return new TrainingData(train, valSet, views, eval, data.toString());
    }

    /** Two views: a one-view recipe (v1, v2, cifar) is applied twice independently, v3's two views once each. */
    static List<ViewTransform> trainViews(String recipe, int size, double cropMin) {
        Recipe r = Recipes.load(recipe, size);
        List<ViewTransform> transforms = (cropMin > 0 ? r.withCropMin(cropMin) : r).cpuTransforms();
        return transforms.size() == 1 ? List.of(transforms.get(0), transforms.get(0)) : transforms;
    }

    /**
     * torchvision-style evaluation view for any image size: shorter side to the view size (CIFAR-like sizes,
     * {@code eval32}) or to 256/224 of it ({@code eval}), then a centre crop.
     */
    public static ViewTransform evalTransform(int size) {
        Recipe recipe = Recipes.load(size <= 64 ? "eval32" : "eval", size);
        return recipe.cpuTransforms().get(0);
    }

    public ViewLoader trainLoader(MocoConfig cfg) {
        return ViewLoader.builder(train, views).batchSize(cfg.train().batchSize()).seed(cfg.train().seed())
                .dropLast(true).shuffle(true).workers(cfg.train().workers()).build();
    }

    /**
     * This rank's loader in a data-parallel run: {@code train.batch_size} is the global batch, each rank reads
     * its part of every global batch ({@link ShardedOrder}); the whole loader on one rank.
     */
    public ViewLoader trainLoader(MocoConfig cfg, Collectives ranks) {
        if (ranks.size() == 1) {
            return trainLoader(cfg);
        }
        int batch = cfg.train().batchSize();
        ShardedOrder order = ShardedOrder.of(train.size(), batch, ranks.size(), cfg.train().seed(),
                BnGroups.layout(cfg.version(), cfg.moco().bnSplits(), batch, ranks.size()));
        return order.configure(ViewLoader.builder(train, views), ranks.rank()).workers(cfg.train().workers()).build();
    }

    /** The kNN monitor, or one that never runs when it is off or there is nothing labelled to score. */
    public EpochEvaluator knnMonitor(MocoConfig cfg) {
        MocoConfig.Train t = cfg.train();
        if (t.knnEvery() == 0 || val == null || !train.isLabeled() || !val.isLabeled()) {
            return EpochEvaluator.NONE;
        }
        KnnMonitor monitor = new KnnMonitor(train, val, evalTransform,
                KnnMonitor.Config.of(t.knnEvery(), t.knnK(), t.knnT(), t.knnTrainSubset(), t.knnValSubset()))
                .inPrecision(io.moco4j.precision.Precision.parse(t.precision()));
        monitor.checkData(); // before the first step, not at the first evaluation
        return new SafeEvaluation(new EpochEvaluator() {
            @Override
            public boolean due(int epoch, int epochs) {
                return monitor.due(epoch, epochs);
            }

            @Override
            public Map<String, Double> evaluate(Encoder encoder, int epoch) {
                return monitor.evaluate(encoder, epoch);
            }

            @Override
            public void close() {
                monitor.close();
            }
        }, "kNN evaluation", null);
    }
}
