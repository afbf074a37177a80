package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The out-of-memory path of serve: a request whose allocation fails with a real {@link OutOfMemoryError} (thrown by
 * the JVM for an array larger than the whole heap, through {@link AllocationHook}, inside the real handler) is
 * answered 503 with a one-line JSON reason, and the next request is answered 200.
 */
class ServeOutOfMemoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Fails the first allocation at {@code stage} the way a full heap does; later ones pass. */
    private static final class FailOnce implements AllocationHook {
        final String stage;
        final AtomicBoolean armed = new AtomicBoolean(true);
        final List<String> thrown = new ArrayList<>();

        FailOnce(String stage) {
            this.stage = stage;
        }

        @Override
        public void beforeAllocating(String at, long bytes) {
            if (at.equals(stage) && armed.getAndSet(false)) {
                long words = Runtime.getRuntime().maxMemory() / Long.BYTES + 1; // more than the heap holds
                try {
                    long[] tooBig = new long[(int) Math.min(words, Integer.MAX_VALUE - 8)];
                    throw new AssertionError("the JVM allocated " + tooBig.length + " longs; the heap is bigger than expected");
                } catch (OutOfMemoryError e) {
                    thrown.add(e.getMessage());
                    throw e;
                }
            }
        }
    }

    private static void assertOneLineJson503(ServeFixture.Response r) throws Exception {
        assertEquals(503, r.status(), r.body());
        assertTrue(r.headers().toLowerCase().contains("content-type: application/json"), r.headers());
        assertFalse(r.body().strip().contains("\n"), "one line: " + r.body());
        JsonNode error = JSON.readTree(r.body());
        assertEquals(503, error.get("status").asInt());
        assertTrue(error.get("error").asText().contains("ran out of memory"), r.body());
    }

    @Test
    void anUploadThatRunsOutOfMemoryIsA503AndTheNextUploadIsAnswered(@TempDir Path tmp) throws Exception {
        try (ServeFixture f = new ServeFixture(tmp, 6, 3)) {
            FailOnce hook = new FailOnce("decode");
            f.server.allocationHook(hook);
            byte[] upload = Files.readAllBytes(f.files.get(2));
            assertOneLineJson503(f.raw("POST", "/api/search?k=3", "127.0.0.1", upload));
            assertEquals(1, hook.thrown.size(), "the hook ran in the request and the JVM threw");
            ServeFixture.Response next = f.raw("POST", "/api/search?k=3", "127.0.0.1", upload);
            assertEquals(200, next.status(), next.body());
            assertEquals(3, JSON.readTree(next.body()).get("neighbors").size());
            // the embedding slot of the failed upload was given back: as many uploads as slots still run
            for (int i = 0; i < GalleryServer.Limits.defaults().embedSlots() + 1; i++) {
                assertEquals(200, f.raw("POST", "/api/search?k=3", "127.0.0.1", upload).status());
            }
        }
    }

    @Test
    void aSearchThatRunsOutOfMemoryIsA503AndTheNextSearchIsAnswered(@TempDir Path tmp) throws Exception {
        try (ServeFixture f = new ServeFixture(tmp, 6, 3)) {
            FailOnce hook = new FailOnce("search");
            f.server.allocationHook(hook);
            assertOneLineJson503(f.raw("GET", "/api/neighbors/1?k=2", "127.0.0.1", null));
            assertEquals(1, hook.thrown.size());
            ServeFixture.Response next = f.raw("GET", "/api/neighbors/1?k=2", "127.0.0.1", null);
            assertEquals(200, next.status(), next.body());
            assertEquals(2, JSON.readTree(next.body()).get("neighbors").size());
        }
    }
}
