package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.index.LuceneVectorIndex;
import io.moco4j.serve.EmbeddingCache;
import io.moco4j.serve.Gallery;
import io.moco4j.serve.GalleryServer;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serves a local page to explore a folder of images.",
                "Embeds the folder once (cached beside the run); the page shows a grid of the images, each image's"
                        + " nearest neighbours, search by upload, per-class kNN purity and a 2-D map; plus a JSON API (/api/images, /api/neighbors/{id}, /api/search, /api/map)."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", paramLabel = "CKPT",
            description = "A MoCo4J checkpoint, or a PyTorch/safetensors file import understands (with --index: default the index's).")
    Path checkpoint;
    @Option(names = "--images", paramLabel = "DIR", description = "The folder to index (class sub-folders give labels; with --index: default the indexed folder).")
    Path images;
    @Option(names = "--index", paramLabel = "IDX", description = "Serve a Lucene index built by ./moco4j index (HNSW search, nothing embedded at start).")
    Path index;
    @Option(names = "--candidates", paramLabel = "N", defaultValue = "0",
            description = "With --index: candidates a search collects (default: as stored in the index).")
    int candidates;
    @Option(names = "--port", defaultValue = "8080", description = "Port (default ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;
    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Address to bind (default ${DEFAULT-VALUE}: this machine only; 0.0.0.0 exposes the images to the network).")
    String host;
    @Option(names = "--k", defaultValue = "12", description = "Neighbours shown (default ${DEFAULT-VALUE}).")
    int k;
    @Option(names = "--features", description = "backbone (pooled, default) or head (with --index: the index's).")
    String features;
    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;
    @Mixin
    PrecisionOption precision;
    @Option(names = "--batch-size", defaultValue = "256") int batchSize;
    @Option(names = "--cache", paramLabel = "DIR", description = "Embedding cache folder (default: serve-cache beside the run).")
    Path cache;

    @Override
    public Integer call() throws InterruptedException {
        if (k < 1 || k > 1000) {
            throw new UserException("--k " + k + " is not valid; use 1..1000");
        }
        if (port < 0 || port > 65535) {
            throw new UserException("--port " + port + " is not valid; use 0..65535");
        }
        if (index != null) {
            return serveIndex();
        }
        if (checkpoint == null || images == null) {
            throw new UserException("serve needs --checkpoint CKPT and --images DIR, or --index IDX (built by ./moco4j index)");
        }
        FeatureLayer layer = FeatureLayer.parse(features == null ? "backbone" : features);
        Encoder.Options options = Encoder.Options.defaults().withDevice(device).withLayer(layer).withBatchSize(batchSize)
                .withPrecision(precision.orFp32());
        try (Encoder encoder = Encoder.load(checkpoint, options)) {
            EmbeddingCache embeddings = new EmbeddingCache(cache != null ? cache : EmbeddingCache.besideRun(checkpoint));
            Gallery gallery;
            try (EmbeddingProgressBar bar = new EmbeddingProgressBar()) {
                gallery = Gallery.open(images, encoder, EmbeddingCache.sha256(checkpoint), embeddings, bar::update);
            }
            serveUntilStopped(gallery, encoder, checkpoint, layer, "");
        }
        return 0;
    }

    /** serve --index: the gallery and its search come from a Lucene index; the encoder embeds uploads only. */
    private Integer serveIndex() throws InterruptedException {
        try (LuceneVectorIndex lucene = LuceneVectorIndex.open(index, candidates)) {
            Map<String, String> meta = lucene.metadata();
            Path ckpt = checkpoint != null ? checkpoint : Path.of(meta.getOrDefault("checkpoint.path", ""));
            if (!Files.isRegularFile(ckpt)) {
                throw new UserException("the checkpoint the index was built with (" + ckpt + ") is not there; pass it with --checkpoint");
            }
            if (!EmbeddingCache.sha256(ckpt).equals(meta.get("checkpoint.sha256"))) {
                throw new UserException(ckpt + " is not the checkpoint the index " + index + " was built with; pass that one with"
                        + " --checkpoint, or update the index with ./moco4j index --rebuild");
            }
            FeatureLayer layer = FeatureLayer.parse(meta.getOrDefault("features", "backbone"));
            if (features != null && FeatureLayer.parse(features) != layer) {
                throw new UserException("the index holds " + layer.id() + " features; drop --features " + features + " or index the other ones");
            }
            Gallery gallery = Gallery.fromIndex(lucene, images != null ? images : Path.of(meta.getOrDefault("images", "")));
            Encoder.Options options = Encoder.Options.defaults().withDevice(device).withLayer(layer).withBatchSize(batchSize)
                .withPrecision(precision.orFp32());
            try (Encoder encoder = Encoder.load(ckpt, options)) {
                String projected = lucene.projection() == null ? "" : ", PCA to " + lucene.dimension() + "-d";
                serveUntilStopped(gallery, encoder, ckpt, layer, "; Lucene index " + index + projected + ", " + lucene.settings());
            }
        } catch (java.io.IOException e) {
            throw new UserException("cannot close the index " + index + " (" + e.getMessage() + ")");
        }
        return 0;
    }

    private void serveUntilStopped(Gallery gallery, Encoder encoder, Path ckpt, FeatureLayer layer, String note)
            throws InterruptedException {
        PrecisionOption.announce(encoder);
        try (GalleryServer server = new GalleryServer(gallery, encoder, host, port, k,
                gallery.root().getFileName() + " with " + ckpt.getFileName())) {
            server.start();
            String shown = host.contains(":") ? "[" + host + "]" : host;
            System.out.printf(Locale.ROOT, "Serving %d images of %s (%d-d %s embeddings of %s%s) at http://%s:%d/ (Ctrl-C stops)%n",
                    gallery.size(), gallery.root(), encoder.dimension(), layer.id(), encoder.description(), note, shown, server.port());
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            stop.await();
        }
    }
}
