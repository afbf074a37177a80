package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.serve.EmbeddingCache;
import io.moco4j.serve.Gallery;
import io.moco4j.serve.GalleryServer;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serves a local page to explore a folder of images.",
                "Embeds the folder once (cached beside the run); the page shows a grid of the images, each image's"
                        + " nearest neighbours, search by upload, per-class kNN purity and a 2-D map; plus a JSON API (/api/images, /api/neighbors/{id}, /api/search, /api/map)."})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "CKPT",
            description = "A MoCo4J checkpoint, or a PyTorch/safetensors file import understands.")
    Path checkpoint;
    @Option(names = "--images", required = true, paramLabel = "DIR", description = "The folder to index (class sub-folders give labels).")
    Path images;
    @Option(names = "--port", defaultValue = "8080", description = "Port (default ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;
    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Address to bind (default ${DEFAULT-VALUE}: this machine only; 0.0.0.0 exposes the images to the network).")
    String host;
    @Option(names = "--k", defaultValue = "12", description = "Neighbours shown (default ${DEFAULT-VALUE}).")
    int k;
    @Option(names = "--features", defaultValue = "backbone", description = "backbone (pooled, default) or head.")
    String features;
    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;
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
        FeatureLayer layer = FeatureLayer.parse(features);
        Encoder.Options options = Encoder.Options.defaults().withDevice(device).withLayer(layer).withBatchSize(batchSize);
        try (Encoder encoder = Encoder.load(checkpoint, options)) {
            EmbeddingCache embeddings = new EmbeddingCache(cache != null ? cache : EmbeddingCache.besideRun(checkpoint));
            Gallery gallery;
            ProgressBar[] bar = new ProgressBar[1];
            try {
                gallery = Gallery.open(images, encoder, EmbeddingCache.sha256(checkpoint), embeddings, (done, total) -> {
                    if (bar[0] == null) {
                        bar[0] = new ProgressBarBuilder().setTaskName("embedding").setInitialMax(total)
                                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build();
                    }
                    bar[0].stepTo(done);
                });
            } finally {
                if (bar[0] != null) {
                    bar[0].close();
                }
            }
            try (GalleryServer server = new GalleryServer(gallery, encoder, host, port, k,
                    gallery.root().getFileName() + " with " + checkpoint.getFileName())) {
                server.start();
                String shown = host.contains(":") ? "[" + host + "]" : host;
                System.out.printf(Locale.ROOT, "Serving %d images of %s (%d-d %s embeddings of %s) at http://%s:%d/ (Ctrl-C stops)%n",
                        gallery.size(), gallery.root(), encoder.dimension(), layer.id(), encoder.description(), shown, server.port());
                CountDownLatch stop = new CountDownLatch(1);
                Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
                stop.await();
            }
        }
        return 0;
    }
}
