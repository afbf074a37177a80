package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.Encoder;
import io.moco4j.api.TinyEncoders;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many clients at once on 127.0.0.1, with a fixed number of requests and a time bound: beyond the server's limits
 * the extra requests get a 503 with a one-line JSON reason (no hang, no dropped connection, no 500), below them
 * every request is answered 200, and the server's threads stay within its limits.
 */
class ServeLoadTest {
    @TempDir
    static Path tmp;
    static Encoder encoder;
    static Gallery gallery;
    static byte[] bigUpload;
    static byte[] smallUpload;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void setUp() throws Exception {
        Path ckpt = TinyEncoders.checkpoint(tmp, 13);
        List<Path> files = TinyEncoders.sceneFolder(tmp.resolve("images"), 16, 4);
        encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(8));
        gallery = Gallery.open(tmp.resolve("images"), encoder, EmbeddingCache.sha256(ckpt), new EmbeddingCache(tmp.resolve("cache")), (d, t) -> { });
        smallUpload = Files.readAllBytes(files.get(3));
        // Noise does not compress: decoding 1200 x 1200 px takes tens of ms, so 24 at once overlap.
        BufferedImage noise = new BufferedImage(1200, 1200, BufferedImage.TYPE_INT_RGB);
        SplittableRandom rng = new SplittableRandom(5);
        for (int y = 0; y < 1200; y++) {
            for (int x = 0; x < 1200; x++) {
                noise.setRGB(x, y, rng.nextInt(1 << 24));
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(noise, "png", png);
        bigUpload = png.toByteArray();
    }

    @AfterAll
    static void tearDown() {
        encoder.close();
    }

    record Answer(int status, String body) {}

    /** {@code clients} clients send {@code each} requests each, all starting together; every answer is returned. */
    static List<Answer> hammer(int port, int clients, int each, byte[] upload) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<List<Answer>>> futures = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            futures.add(pool.submit(() -> {
                go.await();
                List<Answer> out = new ArrayList<>();
                for (int i = 0; i < each; i++) {
                    HttpRequest req = (client + i) % 3 == 2
                            ? HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/neighbors/" + (i % 16) + "?k=5"))
                                    .timeout(Duration.ofSeconds(120)).build()
                            : HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/search?k=5"))
                                    .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofByteArray(upload)).build();
                    HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                    out.add(new Answer(r.statusCode(), r.body()));
                }
                return out;
            }));
        }
        go.countDown();
        List<Answer> all = new ArrayList<>();
        for (Future<List<Answer>> f : futures) {
            all.addAll(f.get());
        }
        pool.shutdown();
        return all;
    }

    static Map<Integer, Integer> counts(List<Answer> answers) {
        Map<Integer, Integer> m = new TreeMap<>();
        answers.forEach(a -> m.merge(a.status(), 1, Integer::sum));
        return m;
    }

    static long serverThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("serve-http") || t.getName().equals("serve-overload")).count();
    }

    @Test
    void overloadIsAnsweredWith503AndAOneLineReason() throws Exception {
        GalleryServer.Limits tight = new GalleryServer.Limits(2, 2, 1, 0);
        try (GalleryServer server = new GalleryServer(gallery, encoder, "127.0.0.1", 0, 5, "load", tight)) {
            server.start();
            List<Answer> answers = assertTimeoutPreemptively(Duration.ofMinutes(5), () -> hammer(server.port(), 24, 2, bigUpload));
            Map<Integer, Integer> counts = counts(answers);
            assertEquals(48, answers.size());
            assertTrue(counts.keySet().stream().allMatch(s -> s == 200 || s == 503), "only 200 and 503: " + counts);
            assertTrue(counts.getOrDefault(503, 0) > 0, "24 clients on 2 threads, 2 queue places and 1 slot: " + counts);
            assertTrue(counts.getOrDefault(200, 0) > 0, "some requests are served: " + counts);
            for (Answer a : answers) {
                if (a.status() == 503) {
                    assertFalse(a.body().contains("\n"), a.body());
                    JsonNode j = JSON.readTree(a.body());
                    assertTrue(j.get("error").asText().contains("busy"), a.body());
                    assertEquals(503, j.get("status").asInt());
                }
            }
            assertTrue(serverThreads() <= 2 + 2, "threads: " + serverThreads()); // 2 workers + 2 overflow
            // and the server is still there
            HttpResponse<String> after = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/api/search?k=3")).POST(HttpRequest.BodyPublishers.ofByteArray(smallUpload)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, after.statusCode(), after.body());
        }
    }

    @Test
    void belowTheLimitsEveryRequestIsAnswered() throws Exception {
        try (GalleryServer server = new GalleryServer(gallery, encoder, "127.0.0.1", 0, 5, "load")) {
            server.start();
            List<Answer> answers = assertTimeoutPreemptively(Duration.ofMinutes(5), () -> hammer(server.port(), 8, 4, smallUpload));
            assertEquals(Map.of(200, 32), counts(answers));
            assertTrue(serverThreads() <= GalleryServer.Limits.defaults().threads() + 2, "threads: " + serverThreads());
        }
    }
}
