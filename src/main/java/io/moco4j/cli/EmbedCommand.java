package io.moco4j.cli;

import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.eval.Embedder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.eval.ProbeTransforms;
import io.moco4j.train.TrainingData;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes embeddings of a folder of images as a float32 .npy (rows in the order of the",
                "index file written beside it, one image path a line)."})
final class EmbedCommand implements Callable<Integer> {
    @Mixin
    EncoderSource source;

    @Option(names = "--images", required = true, paramLabel = "DIR") String images;
    @Option(names = "--out", required = true, paramLabel = "FILE.npy") Path out;
    @Option(names = "--features", defaultValue = "backbone", description = "backbone (pooled, default) or head.")
    String features;
    @Option(names = "--batch-size", defaultValue = "256") int batchSize;
    @Option(names = "--image-size", paramLabel = "PX", description = "Default: the checkpoint's training size.")
    Integer imageSize;

    @Override
    public Integer call() {
        String file = out.getFileName().toString();
        if (!file.endsWith(".npy")) {
            throw new UserException("--out " + out + " must end in .npy (the index file is written beside it)");
        }
        FeatureLayer layer = FeatureLayer.parse(features);
        ImageDataset dataset = DataSources.open(images, DataSplit.TRAIN, false, false);
        Path dir = out.toAbsolutePath().getParent();
        try (EncoderSource.Opened enc = source.open()) {
            int size = imageSize != null ? imageSize : enc.imageSize();
            ViewTransform eval = TrainingData.evalTransform(size);
            System.out.println(ProbeTransforms.describe(eval));
            Embedder.Result r = Embedder.run(dataset, eval, enc.features(layer), layer,
                    batchSize, enc.manager(), dir, file.substring(0, file.length() - 4));
            System.out.printf(Locale.ROOT, "Wrote %d x %d %s embeddings to %s (index %s)%s%n", r.rows(), r.dim(),
                    layer.name().toLowerCase(Locale.ROOT), r.embeddings(), r.index(),
                    r.skipped() == 0 ? "" : "; skipped " + r.skipped() + " unreadable image" + (r.skipped() == 1 ? "" : "s"));
        }
        return 0;
    }
}
