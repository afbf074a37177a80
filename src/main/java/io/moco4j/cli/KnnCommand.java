package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.eval.KnnEvaluation;
import io.moco4j.eval.KnnResult;
import io.moco4j.eval.ProbeTransforms;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "knn", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Weighted kNN classification of frozen features.",
                "InstDisc / MoCo demo protocol: cosine similarity to the training bank, top k neighbours weighted exp(sim / t)."})
final class KnnCommand implements Callable<Integer> {
    @Mixin
    EncoderSource source;

    @Option(names = "--train", required = true, paramLabel = "DIR", description = "Labelled bank images (class sub-folders, CIFAR binaries or builtin).")
    String train;

    @Option(names = "--val", required = true, paramLabel = "DIR", description = "Labelled images to classify.")
    String val;

    @Option(names = "--k", defaultValue = "200", description = "Neighbours (default ${DEFAULT-VALUE}).")
    int k;

    @Option(names = "--t", defaultValue = "0.1", description = "Temperature of the neighbour weights (default ${DEFAULT-VALUE}).")
    double t;

    @Option(names = "--features", defaultValue = "backbone", description = "backbone (pooled, default) or head.")
    String features;

    @Option(names = "--batch-size", defaultValue = "256") int batchSize;
    @Option(names = "--image-size", paramLabel = "PX", description = "Evaluation size (default: the checkpoint's training size).")
    Integer imageSize;
    @Option(names = "--out", paramLabel = "FILE", description = "Also write the result as JSON.") Path out;

    @Override
    public Integer call() {
        FeatureLayer layer = FeatureLayer.parse(features);
        ImageDataset bank = DataSources.open(train, DataSplit.TRAIN, false, false);
        ImageDataset queries = DataSources.open(val, DataSplit.TEST, false, false);
        try (Encoder enc = source.open(layer, imageSize, batchSize)) {
            System.out.println(ProbeTransforms.describe(enc.preprocessing()));
            KnnResult r = KnnEvaluation.run(enc.features(), layer, bank, queries, enc.preprocessing(),
                    k, t, batchSize, 256, enc.manager(), out);
            System.out.printf(Locale.ROOT, "kNN (k %d, t %.3g) on %s features of %s: top-1 %.2f%%, top-5 %.2f%% (%d bank, %d queries)%n",
                    r.k(), t, enc.network() == null ? "raw-pixel" : layer.name().toLowerCase(Locale.ROOT), enc.description(),
                    r.top1(), r.top5(), bank.size(), queries.size());
        }
        return 0;
    }
}
