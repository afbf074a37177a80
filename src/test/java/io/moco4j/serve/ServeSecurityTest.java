package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.TinyEncoders;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server hands out only the indexed images, by id, and nothing else of the disk. */
class ServeSecurityTest {
    @TempDir
    static Path tmp;
    static ServeFixture f;
    static Path secret;
    static byte[] outsideImage;

    @BeforeAll
    static void start() throws Exception {
        // Files outside the folder, reachable through symbolic links placed inside it before indexing.
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        secret = Files.writeString(outside.resolve("secret.txt"), "TOP-SECRET-CONTENT");
        Path outsideImages = Files.createDirectories(tmp.resolve("outside-images"));
        Path img = TinyEncoders.sceneFolder(outsideImages, 1, 99).get(0);
        outsideImage = Files.readAllBytes(img);
        Path folder = Files.createDirectories(tmp.resolve("images/aaa"));
        Files.createSymbolicLink(folder.resolve("link-to-outside.png"), img);
        Files.createSymbolicLink(tmp.resolve("images/linked-dir"), img.getParent());
        f = new ServeFixture(tmp, 10, 3);
    }

    @AfterAll
    static void stop() {
        f.close();
    }

    @Test
    void symlinksOutOfTheFolderAreNotIndexedOrServed() throws Exception {
        assertEquals(10, f.gallery.size(), "only the 10 real images inside the folder");
        assertTrue(f.gallery.items().stream().noneMatch(i -> i.path().contains("link")), f.gallery.items().toString());
        for (int id = 0; id < f.gallery.size(); id++) {
            ServeFixture.Response r = f.raw("GET", "/image/" + id, "127.0.0.1", null);
            assertEquals(200, r.status());
            assertFalse(Arrays.equals(outsideImage, r.body().getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)), "image " + id);
        }
    }

    @Test
    void traversalAndAbsolutePathsAreNotFound() throws Exception {
        String s = secret.toString();
        String[] targets = {
            "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
            "/image/../../../etc/passwd", "/image/..%2f..%2f..%2fetc%2fpasswd", "/image/%2e%2e", "/image/0/../../pom.xml",
            "/image/" + s, "/image/%2F" + s.substring(1).replace("/", "%2F"), "//etc/passwd", "/etc/passwd", s,
            "/api/neighbors/../../../etc/passwd", "/app.js/../../../etc/passwd", "/..%5c..%5cwindows", "/image/1%00.png",
            "/web/app.js", "/io/moco4j/serve/web/app.js", "/image/", "/images/", "/api/", "/static/", "/aaa/", "/aaa/0000.png",
            "/outside/secret.txt",
        };
        for (String t : targets) {
            ServeFixture.Response r = f.raw("GET", t, "127.0.0.1", null);
            assertTrue(r.status() == 404 || r.status() == 400, t + " gave " + r.status());
            assertFalse(r.body().contains("TOP-SECRET") || r.body().contains("root:"), t);
            assertTrue(r.headers().toLowerCase().contains("content-type: application/json"), t + ": " + r.headers());
            new ObjectMapper().readTree(r.body()); // a JSON error, not a listing or a page
            assertFalse(r.body().contains("Exception") || r.body().contains("\tat "), t + ": " + r.body());
        }
    }

    @Test
    void otherHostsAreRefusedOnALoopbackServer() throws Exception {
        assertEquals(403, f.raw("GET", "/api/images", "evil.example:80", null).status());
        assertEquals(200, f.raw("GET", "/api/images", "localhost:" + f.server.port(), null).status());
    }

    @Test
    void responsesCarryProtectiveHeaders() throws Exception {
        String h = f.raw("GET", "/", "127.0.0.1", null).headers().toLowerCase();
        assertTrue(h.contains("x-content-type-options: nosniff"), h);
        assertTrue(h.contains("content-security-policy: default-src 'self'"), h);
    }
}
