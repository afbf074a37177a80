package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.Encoder;
import io.moco4j.api.TinyEncoders;
import io.moco4j.data.HostileImages;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hostile image files (fixed seed) in the indexed folder and as uploaded queries. */
class ServeHostileImagesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Damaged files and bombs, by name; none of them can be decoded into an image within the limits. */
    static Map<String, byte[]> hostile() throws Exception {
        SplittableRandom r = new SplittableRandom(13);
        Map<String, byte[]> out = new LinkedHashMap<>();
        byte[] png = HostileImages.encode(HostileImages.noise(40, 30, 1), "png");
        byte[] jpg = HostileImages.encode(HostileImages.noise(40, 30, 2), "jpg");
        out.put("truncated.png", java.util.Arrays.copyOf(png, png.length / 2));
        out.put("truncated.jpg", java.util.Arrays.copyOf(jpg, jpg.length / 3));
        out.put("header-only.png", java.util.Arrays.copyOf(png, 40));
        out.put("zeros.bmp", new byte[500]);
        out.put("text.gif", "GIF89a, or so it says".getBytes());
        out.put("png-bomb.png", HostileImages.pngBomb(100_000, 100_000));
        out.put("jpeg-bomb.jpg", HostileImages.jpegBomb(65_000, 65_000));
        out.put("wide.png", HostileImages.encode(new BufferedImage(30_000_000, 1, BufferedImage.TYPE_BYTE_GRAY), "png"));
        out.put("tall.png", HostileImages.encode(new BufferedImage(1, 2_000_000, BufferedImage.TYPE_BYTE_GRAY), "png"));
        return out;
    }

    /** Fixed-seed mutations of small valid files (some stay decodable); the bench runs 1,000 of this kind. */
    static Map<String, byte[]> mutated(int n) throws Exception {
        SplittableRandom r = new SplittableRandom(29);
        String[] formats = {"png", "jpg", "bmp", "gif"};
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String fmt = formats[i % formats.length];
            out.put("m" + i + "." + fmt, HostileImages.mutate(HostileImages.encode(HostileImages.noise(20 + r.nextInt(20), 20 + r.nextInt(20), i), fmt), r));
        }
        return out;
    }

    @Test
    void hostileFilesInTheFolderAreLeftOutOfTheGallery() throws Exception {
        Path folder = tmp.resolve("images");
        List<Path> good = TinyEncoders.sceneFolder(folder, 6, 11);
        Map<String, byte[]> bad = hostile();
        for (Map.Entry<String, byte[]> e : bad.entrySet()) {
            Files.write(good.get(0).getParent().resolve(e.getKey()), e.getValue()); // inside a class folder
        }
        Path ckpt = TinyEncoders.checkpoint(tmp, 7);
        try (Encoder encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4))) {
            EmbeddingCache cache = new EmbeddingCache(tmp.resolve("cache"));
            String hash = EmbeddingCache.sha256(ckpt);
            Gallery g = Gallery.open(folder, encoder, hash, cache, (done, total) -> { });
            assertEquals(good.size(), g.size(), "only the readable images are indexed");
            assertEquals(good.size(), g.index().size());
            List<String> names = g.items().stream().map(Gallery.Item::path).toList();
            for (String b : bad.keySet()) {
                assertFalse(names.contains(b), b + " must not be in the gallery");
            }
            for (Gallery.Item item : g.items()) {
                assertEquals(item, g.item(item.id()), "ids are rows");
                float[] again = encoder.embed(List.of(item.file()))[0];
                assertEquals(1.0, cosine(again, g.index().vector(item.id())), 1e-4, item.path() + " has its own embedding");
            }
            Gallery cached = Gallery.open(folder, encoder, hash, cache, (done, total) -> {
                throw new AssertionError("the second open must read the cache");
            });
            assertEquals(g.items(), cached.items());
        }
    }

    private static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += a[i] * b[i];
            aa += a[i] * a[i];
            bb += b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    @Test
    void theUploadPixelLimitIsReadFromTheHeaderBelowTheTrainingLimit() throws Exception {
        // 7,000 x 6,000 = 42,000,000 pixels: above the upload limit, below data.max_pixels; only a header, so
        // the 413 (not a 415 for the missing pixel data) shows the limit was applied before decoding
        assertTrue(42_000_000L > GalleryServer.MAX_UPLOAD_PIXELS);
        try (ServeFixture f = new ServeFixture(tmp, 6, 3)) {
            ServeFixture.Response r = f.raw("POST", "/api/search", "127.0.0.1", Pngs.headerOnly(7_000, 6_000));
            assertEquals(413, r.status(), r.body());
            assertTrue(JSON.readTree(r.body()).get("error").asText().contains("pixels"), r.body());
        }
    }

    @Test
    void uploadsOfHostileFilesAreOneLineClientErrorsAndTheServerStaysUp() throws Exception {
        try (ServeFixture f = new ServeFixture(tmp, 12, 3)) {
            List<String> problems = new ArrayList<>();
            Map<String, byte[]> all = new LinkedHashMap<>(hostile());
            all.putAll(mutated(60));
            int refused = 0;
            for (Map.Entry<String, byte[]> e : all.entrySet()) {
                ServeFixture.Response r = f.raw("POST", "/api/search", "127.0.0.1", e.getValue());
                if (r.status() == 200 && e.getKey().startsWith("m")) {
                    continue; // a harmless mutation: the image still decodes and gets its neighbours
                }
                refused++;
                if (r.status() < 400 || r.status() >= 500) {
                    problems.add(e.getKey() + ": HTTP " + r.status() + " " + r.body());
                    continue;
                }
                String error = JSON.readTree(r.body()).get("error").asText();
                if (error.isBlank() || error.contains("\n") || error.contains("Exception") || error.contains("null")
                        || error.length() > 300) {
                    problems.add(e.getKey() + ": not one clear line: " + error);
                }
            }
            assertTrue(problems.isEmpty(), String.join("\n", problems));
            assertTrue(refused >= hostile().size() + 20, refused + " refused: the mutations must mostly break the files");
            ServeFixture.Response good = f.raw("POST", "/api/search?k=2", "127.0.0.1", Files.readAllBytes(f.files.get(0)));
            assertEquals(200, good.status(), good.body());
            assertEquals(2, JSON.readTree(good.body()).get("neighbors").size());
        }
    }
}
