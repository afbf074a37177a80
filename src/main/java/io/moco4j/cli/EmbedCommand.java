package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.Embedder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.eval.OpenSearchExport;
import io.moco4j.eval.ProbeTransforms;
import io.moco4j.eval.ProjectorExport;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes embeddings of a folder of images.",
                "A float32 .npy with rows in the order of the index file written beside it (one image path a line),",
                "or with --format projector the files TensorBoard's Embedding Projector loads (tensors.tsv,",
                "metadata.tsv, sprite.png) into a folder, or with --format opensearch the bulk NDJSON files and the",
                "index definitions (opensearch-index.json, elasticsearch-index.json) a search cluster loads with curl",
                "(README: Issue 17)."})
final class EmbedCommand implements Callable<Integer> {
    @Mixin
    EncoderSource source;

    @Option(names = "--images", required = true, paramLabel = "DIR") String images;
    @Option(names = "--out", required = true, paramLabel = "FILE.npy|DIR", description = "A .npy file, or a folder for --format projector.")
    Path out;
    @Option(names = "--format", defaultValue = "npy", paramLabel = "F", description = "npy (default), projector or opensearch.")
    String format;
    @Option(names = "--index-name", defaultValue = "moco4j", paramLabel = "NAME",
            description = "With --format opensearch: the index the bulk files load into (default ${DEFAULT-VALUE}).")
    String indexName;
    @Option(names = "--features", defaultValue = "backbone", description = "backbone (pooled, default) or head.")
    String features;
    @Option(names = "--batch-size", defaultValue = "256") int batchSize;
    @Option(names = "--image-size", paramLabel = "PX", description = "Default: the checkpoint's training size.")
    Integer imageSize;

    @Override
    public Integer call() {
        String f = format.trim().toLowerCase(Locale.ROOT);
        if (!f.equals("npy") && !f.equals("projector") && !f.equals("opensearch")) {
            throw new UserException("--format " + format + " is not known; use npy, projector or opensearch");
        }
        if (f.equals("opensearch")) {
            OpenSearchExport.checkIndexName(indexName);
        }
        String file = out.getFileName().toString();
        if (f.equals("npy") && !file.endsWith(".npy")) {
            throw new UserException("--out " + out + " must end in .npy (the index file is written beside it)");
        }
        if (!f.equals("npy") && file.endsWith(".npy")) {
            throw new UserException("--format " + f + " writes several files: give --out a folder, not " + out);
        }
        FeatureLayer layer = FeatureLayer.parse(features);
        ImageDataset dataset = DataSources.open(images, DataSplit.TRAIN, false, false);
        try (Encoder enc = source.open(layer, imageSize, batchSize)) {
            System.out.println(ProbeTransforms.describe(enc.preprocessing()));
            if (f.equals("projector")) {
                ProjectorExport.Result r = ProjectorExport.write(dataset, enc::embedAll, out);
                System.out.printf(Locale.ROOT, "Wrote %d x %d %s embeddings for TensorBoard's projector to %s (%s, %s, %s)%n",
                        r.rows(), r.dim(), layer.id(), out, r.tensors().getFileName(), r.metadata().getFileName(),
                        r.sprite().getFileName());
                return 0;
            }
            if (f.equals("opensearch")) {
                int[] skipped = {0};
                OpenSearchExport.Result r = OpenSearchExport.write(dataset, enc::embedReadable, out, indexName, failure -> {
                    skipped[0]++;
                    System.err.println("skipping unreadable image " + failure);
                });
                System.out.printf(Locale.ROOT, "Wrote %d x %d %s embeddings (unit vectors) for index %s: %d bulk file%s %s, %s, %s%s%n",
                        r.documents(), r.dim(), layer.id(), indexName, r.bulkFiles().size(), r.bulkFiles().size() == 1 ? "" : "s",
                        out.resolve("bulk-*.ndjson"), r.openSearchIndex(), r.elasticsearchIndex(),
                        skipped[0] == 0 ? "" : "; skipped " + skipped[0] + " unreadable image" + (skipped[0] == 1 ? "" : "s"));
                return 0;
            }
            Path dir = out.toAbsolutePath().getParent();
            Embedder.Result r = Embedder.run(dataset, enc.preprocessing(), enc.features(), layer,
                    batchSize, enc.manager(), dir, file.substring(0, file.length() - 4));
            System.out.printf(Locale.ROOT, "Wrote %d x %d %s embeddings to %s (index %s)%s%n", r.rows(), r.dim(),
                    layer.id(), r.embeddings(), r.index(),
                    r.skipped() == 0 ? "" : "; skipped " + r.skipped() + " unreadable image" + (r.skipped() == 1 ? "" : "s"));
        }
        return 0;
    }
}
