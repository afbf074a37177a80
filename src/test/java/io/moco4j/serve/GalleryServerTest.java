package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Neighbor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GalleryServerTest {
    @TempDir
    static Path tmp;
    static ServeFixture f;
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void start() throws Exception {
        f = new ServeFixture(tmp, 24, 5);
    }

    @AfterAll
    static void stop() {
        f.close();
    }

    static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(f.base() + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> post(String path, byte[] body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(f.base() + path)).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void listsTheFolderWithRelativePathsAndLabels() throws Exception {
        HttpResponse<String> r = get("/api/images");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        JsonNode body = JSON.readTree(r.body());
        assertEquals(24, body.get("total").asInt());
        JsonNode images = body.get("images");
        assertEquals(24, images.size());
        for (int i = 0; i < 24; i++) {
            Path file = f.files.get(i);
            String rel = file.getParent().getFileName() + "/" + file.getFileName();
            assertEquals(i, images.get(i).get("id").asInt());
            assertEquals(rel, images.get(i).get("path").asText());
            assertEquals(file.getParent().getFileName().toString(), images.get(i).get("label").asText());
        }
        assertTrue(body.get("classes").size() > 1);
        assertTrue(body.get("purity").get("overall").asDouble() >= 0);
        JsonNode page = JSON.readTree(get("/api/images?offset=20&limit=10").body());
        assertEquals(4, page.get("images").size());
        assertEquals(20, page.get("images").get(0).get("id").asInt());
    }

    @Test
    void neighboursAreTheExactTopKOfTheEncodersEmbeddings() throws Exception {
        // Independent of the server: embed the files with the API and search a fresh index.
        EmbeddingIndex index = EmbeddingIndex.of(f.encoder.embed(f.files));
        for (int id : new int[] {0, 9, 23}) {
            JsonNode body = JSON.readTree(get("/api/neighbors/" + id + "?k=6").body());
            assertEquals(id, body.get("query").get("id").asInt());
            List<Neighbor> want = index.neighborsOf(id, 6);
            JsonNode got = body.get("neighbors");
            assertEquals(6, got.size());
            for (int i = 0; i < 6; i++) {
                assertEquals(want.get(i).id(), got.get(i).get("id").asInt(), "rank " + i + " of image " + id);
                assertEquals(want.get(i).score(), got.get(i).get("score").asDouble(), 1e-4);
            }
        }
        assertEquals(5, JSON.readTree(get("/api/neighbors/3").body()).get("neighbors").size(), "default k");
    }

    @Test
    void searchByUploadFindsTheImageItself() throws Exception {
        byte[] png = Files.readAllBytes(f.files.get(13));
        HttpResponse<String> r = post("/api/search?k=3", png);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode top = JSON.readTree(r.body()).get("neighbors").get(0);
        assertEquals(13, top.get("id").asInt());
        assertEquals(1.0, top.get("score").asDouble(), 1e-4);
    }

    @Test
    void mapHasOnePointPerImageInTheUnitSquare() throws Exception {
        JsonNode map = JSON.readTree(get("/api/map").body());
        assertEquals(24, map.get("x").size());
        assertEquals(24, map.get("y").size());
        double spread = 0;
        for (int i = 0; i < 24; i++) {
            double x = map.get("x").get(i).asDouble();
            double y = map.get("y").get(i).asDouble();
            assertTrue(x >= 0 && x <= 1 && y >= 0 && y <= 1);
            spread += Math.abs(x - 0.5) + Math.abs(y - 0.5);
        }
        assertTrue(spread > 1, "the points must not all sit in the middle");
    }

    @Test
    void pageAndImagesAreServed() throws Exception {
        HttpResponse<String> page = get("/");
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("/app.js"));
        assertFalse(page.body().contains("http://") || page.body().contains("https://"), "no external resources (offline)");
        assertEquals(200, get("/app.js").statusCode());
        assertEquals(200, get("/style.css").statusCode());
        HttpResponse<byte[]> img = HTTP.send(HttpRequest.newBuilder(URI.create(f.base() + "/image/5")).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, img.statusCode());
        assertEquals("image/png", img.headers().firstValue("Content-Type").orElse(""));
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(f.files.get(5)), img.body()));
    }

    @Test
    void badRequestsAreJsonErrors() throws Exception {
        String[][] cases = {
            {"GET", "/api/nothing", "404"}, {"GET", "/api/neighbors/24", "404"}, {"GET", "/api/neighbors/3?k=0", "400"},
            {"GET", "/api/neighbors/3?k=abc", "400"}, {"GET", "/api/neighbors/3?k=100000", "400"}, {"GET", "/api/search", "405"},
            {"POST", "/api/images", "405"}, {"GET", "/image/99999", "404"}, {"GET", "/image/-1", "404"},
        };
        for (String[] c : cases) {
            HttpResponse<String> r = c[0].equals("GET") ? get(c[1]) : post(c[1], new byte[] {1});
            assertEquals(Integer.parseInt(c[2]), r.statusCode(), c[1]);
            JsonNode body = JSON.readTree(r.body());
            assertNotNull(body.get("error"), c[1]);
            assertFalse(r.body().contains("Exception") || r.body().contains("\tat "), "no internals in " + r.body());
        }
        HttpResponse<String> text = post("/api/search", "hello, not an image".getBytes());
        assertEquals(415, text.statusCode());
        assertTrue(JSON.readTree(text.body()).get("error").asText().contains("not a readable image"));
        assertEquals(400, post("/api/search", new byte[0]).statusCode());
    }

    @Test
    void uploadsAreLimitedInBytesAndPixels() throws Exception {
        HttpResponse<String> big = post("/api/search", new byte[GalleryServer.MAX_UPLOAD_BYTES + 10]);
        assertEquals(413, big.statusCode());
        assertNotNull(JSON.readTree(big.body()).get("error"));
        HttpResponse<String> huge = post("/api/search", Pngs.headerOnly(60_000, 60_000));
        assertEquals(413, huge.statusCode(), huge.body());
        assertTrue(JSON.readTree(huge.body()).get("error").asText().contains("pixels"));
    }

    @Test
    void cacheIsReusedUntilTheFolderChanges() throws Exception {
        String hash = f.checkpointHash;
        EmbeddingCache cache = new EmbeddingCache(tmp.resolve("cache"));
        AtomicInteger embedded = new AtomicInteger();
        Gallery again = Gallery.open(f.folder, f.encoder, hash, cache, (done, total) -> embedded.set(done));
        assertEquals(0, embedded.get(), "same folder and checkpoint: read from the cache");
        assertEquals(f.gallery.index().search(f.gallery.index().vector(4), 3), again.index().search(f.gallery.index().vector(4), 3));

        Gallery other = Gallery.open(f.folder, f.encoder, "another-checkpoint", cache, (done, total) -> embedded.set(done));
        assertEquals(24, embedded.get(), "another checkpoint hash: embedded again");
        assertEquals(24, other.size());

        embedded.set(0);
        Path touched = f.files.get(0);
        Files.setLastModifiedTime(touched, FileTime.fromMillis(Files.getLastModifiedTime(touched).toMillis() + 5000));
        Gallery changed = Gallery.open(f.folder, f.encoder, hash, cache, (done, total) -> embedded.set(done));
        assertEquals(24, embedded.get(), "a changed file time invalidates the cache");
        List<String> files = new ArrayList<>();
        try (var s = Files.list(tmp.resolve("cache"))) {
            s.forEach(p -> files.add(p.getFileName().toString()));
        }
        assertTrue(files.stream().filter(n -> n.endsWith(".npy")).count() >= 3, files.toString());
        assertNull(changed.item(24));
    }

    @Test
    void cacheFolderIsBesideTheRun() {
        assertEquals(Path.of("/runs/a/serve-cache"), EmbeddingCache.besideRun(Path.of("/runs/a/checkpoints/last.ckpt")));
        assertEquals(Path.of("/w/serve-cache"), EmbeddingCache.besideRun(Path.of("/w/enc.ckpt")));
    }
}
