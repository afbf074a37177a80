package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.index.FolderIndexer;
import io.moco4j.index.IndexSettings;
import io.moco4j.index.VectorIndexWriter;
import io.moco4j.serve.EmbeddingCache;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "index", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Builds or updates a Lucene HNSW index of a folder's embeddings.",
                "A second run embeds only new or changed files and removes deleted ones. serve --index uses it;",
                "Java services search it with io.moco4j.index.LuceneVectorIndex."})
final class IndexCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "CKPT",
            description = "A MoCo4J checkpoint, or a PyTorch/safetensors file import understands.")
    Path checkpoint;
    @Option(names = "--images", required = true, paramLabel = "DIR", description = "The folder to index (class sub-folders are stored as labels).")
    Path images;
    @Option(names = "--out", required = true, paramLabel = "IDX", description = "The index folder (created or updated).")
    Path out;
    @Option(names = "--features", defaultValue = "backbone", description = "backbone (pooled, default) or head.")
    String features;
    @Option(names = "--pca", defaultValue = "0", paramLabel = "N",
            description = {"Index the embeddings' first N principal components (fitted on up to 10,000 of the images, stored with the",
                    "index and applied to queries too); needed for features wider than Lucene's 1024 (ResNet-50: 2048), e.g. --pca 256."})
    int pca;
    @Option(names = "--rebuild", description = "Re-embed every image into a new index (e.g. after training further).")
    boolean rebuild;
    @Option(names = "--quantization", defaultValue = "none", paramLabel = "Q",
            description = "none (float32, default), int7 or int4: Lucene's scalar quantisation of the graph's vectors.")
    String quantization;
    @Option(names = "--max-conn", defaultValue = "16", paramLabel = "M", description = "HNSW neighbours per node (default ${DEFAULT-VALUE}).")
    int maxConn;
    @Option(names = "--beam-width", defaultValue = "100", paramLabel = "N", description = "HNSW candidates while inserting (default ${DEFAULT-VALUE}).")
    int beamWidth;
    @Option(names = "--candidates", defaultValue = "100", paramLabel = "N",
            description = "Candidates a search collects before taking the top k (default ${DEFAULT-VALUE}; stored, serve can override).")
    int candidates;
    @Option(names = "--commit-every", defaultValue = "2048", paramLabel = "N",
            description = "Commit after every N embedded images, so a stopped run keeps its work (default ${DEFAULT-VALUE}).")
    int commitEvery;
    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;
    @Mixin
    PrecisionOption precision;
    @Option(names = "--batch-size", defaultValue = "256") int batchSize;

    @Override
    public Integer call() {
        if (commitEvery < 1) {
            throw new UserException("--commit-every " + commitEvery + " is not valid; use a positive number of images");
        }
        FeatureLayer layer = FeatureLayer.parse(features);
        IndexSettings settings = new IndexSettings(maxConn, beamWidth, IndexSettings.Quantization.parse(quantization), candidates);
        Encoder.Options options = Encoder.Options.defaults().withDevice(device).withLayer(layer).withBatchSize(batchSize)
                .withPrecision(precision.orFp32());
        try (Encoder encoder = Encoder.load(checkpoint, options)) {
            PrecisionOption.announce(encoder);
            FolderIndexer.Origin origin = new FolderIndexer.Origin(checkpoint, EmbeddingCache.sha256(checkpoint), layer.id());
            FolderIndexer.Result r;
            try (EmbeddingProgressBar bar = new EmbeddingProgressBar()) {
                r = FolderIndexer.sync(images, out, encoder, origin, settings, pca, rebuild, commitEvery, bar::update);
            }
            Map<String, String> meta = VectorIndexWriter.committedMetadata(out);
            String components = meta == null ? null : meta.get("pca.components");
            String space = components == null ? encoder.dimension() + "-d" : "PCA " + components + "-d of " + encoder.dimension() + "-d";
            System.out.printf(Locale.ROOT, "Index %s: %d images (%s %s embeddings of %s); this run added %d, re-embedded %d changed,"
                            + " removed %d, kept %d unchanged%s%n", out, r.rows(), space, layer.id(), encoder.description(),
                    r.added(), r.changed(), r.removed(), r.unchanged(),
                    r.skipped() == 0 ? "" : ", skipped " + r.skipped() + " unreadable (tried again next run)");
        }
        return 0;
    }
}
