package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.moco4j.api.Encoder;
import io.moco4j.api.TinyEncoders;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Precision;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * serve in bf16: uploads are embedded on the request threads, each request entering and leaving autocast on its own
 * thread; after requests that succeeded and requests whose forward pass threw, autocast is off on every request thread.
 */
class ServePrecisionTest {
    private static final Device CPU = Device.cpu();
    private static final int THREADS = 2;

    @TempDir
    Path tmp;

    @Test
    void autocastIsOffOnEveryRequestThreadAfterGoodAndFailingUploads() throws Exception {
        List<Path> files = TinyEncoders.sceneFolder(tmp.resolve("images"), 8, 11);
        Path ckpt = TinyEncoders.checkpoint(tmp, 7);
        try (Encoder encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4)
                .withPrecision(Precision.BF16))) {
            assertEquals(Precision.BF16, encoder.precision());
            Gallery gallery = Gallery.open(tmp.resolve("images"), encoder, EmbeddingCache.sha256(ckpt),
                    new EmbeddingCache(tmp.resolve("cache")), (done, total) -> { });
            GalleryServer.Limits limits = new GalleryServer.Limits(THREADS, 16, THREADS, 10_000);
            try (GalleryServer server = new GalleryServer(gallery, encoder, "127.0.0.1", 0, 3, "test", limits)) {
                server.start();
                HttpClient http = HttpClient.newHttpClient();
                URI search = URI.create("http://127.0.0.1:" + server.port() + "/api/search?k=3");
                byte[] png = Files.readAllBytes(files.get(0));
                // More uploads than threads, two at a time, so every request thread embeds at least once.
                for (int round = 0; round < 3; round++) {
                    List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
                    for (int i = 0; i < THREADS; i++) {
                        sent.add(http.sendAsync(HttpRequest.newBuilder(search).POST(HttpRequest.BodyPublishers.ofByteArray(png)).build(),
                                HttpResponse.BodyHandlers.ofString()));
                    }
                    for (var f : sent) {
                        HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
                        assertEquals(200, r.statusCode(), r.body());
                        assertTrue(r.body().contains("\"neighbors\""), r.body());
                    }
                }
                assertEquals(THREADS, server.workers.getPoolSize(), "both request threads exist");
                assertTrue(autocastOffOnEveryWorker(server), "autocast left on on a request thread after good uploads");

                // A freed weight makes every later forward pass throw inside its autocast region: 500s.
                encoder.network().stateDict().get("conv1.weight").close();
                for (int i = 0; i < 2 * THREADS; i++) {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(search).POST(HttpRequest.BodyPublishers.ofByteArray(png)).build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertEquals(500, r.statusCode(), r.body());
                }
                assertTrue(autocastOffOnEveryWorker(server), "autocast left on on a request thread after a forward pass threw");
            }
        }
        assertFalse(Autocast.isEnabled(CPU), "autocast is on on the test thread");
    }

    /** Runs one probe on each request thread at once (a barrier holds every thread until all have one). */
    private static boolean autocastOffOnEveryWorker(GalleryServer server) throws Exception {
        int n = server.workers.getPoolSize();
        CyclicBarrier all = new CyclicBarrier(n);
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        List<Future<Boolean>> probes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            probes.add(server.workers.submit(() -> {
                all.await(30, TimeUnit.SECONDS);
                seen.add(Thread.currentThread());
                return Autocast.isEnabled(CPU);
            }));
        }
        boolean anyOn = false;
        for (Future<Boolean> p : probes) {
            anyOn |= p.get(60, TimeUnit.SECONDS);
        }
        assertEquals(n, seen.size(), "each probe ran on its own request thread");
        return !anyOn;
    }
}
