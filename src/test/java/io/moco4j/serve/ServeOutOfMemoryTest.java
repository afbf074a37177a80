package io.moco4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The out-of-memory path of serve: a request whose allocation fails with a real {@link OutOfMemoryError} (thrown by
 * the JVM for an array above its size limit, through {@link AllocationHook}, inside the real handler) is
 * answered 503 with a one-line JSON reason, and the next request is answered 200.
 */
class ServeOutOfMemoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Fails the first {@code times} allocations at {@code stage} the way a full heap does; later ones pass. */
    private static final class FailTimes implements AllocationHook {
        final String stage;
        final AtomicInteger left;
        final List<String> thrown = new CopyOnWriteArrayList<>();

        FailTimes(String stage, int times) {
            this.stage = stage;
            this.left = new AtomicInteger(times);
        }

        @Override
        public void beforeAllocating(String at, long bytes) {
            if (at.equals(stage) && left.getAndDecrement() > 0) {
                try {
                    // beyond the VM's largest array: HotSpot throws OutOfMemoryError ("Requested array size exceeds VM
                    // limit") at once, without a full collection first (one of 6 GB took over 20 s at load 60)
                    byte[] tooBig = new byte[Integer.MAX_VALUE];
                    throw new AssertionError("the JVM allocated " + tooBig.length + " bytes");
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
            // as many failures as embedding slots: had a failed upload kept its slot, the next one would wait
            // for a slot and get the 503 "busy embedding" instead of its 200
            int slots = GalleryServer.Limits.defaults().embedSlots();
            FailTimes hook = new FailTimes("decode", slots);
            f.server.allocationHook(hook);
            byte[] upload = Files.readAllBytes(f.files.get(2));
            for (int i = 0; i < slots; i++) {
                assertOneLineJson503(f.raw("POST", "/api/search?k=3", "127.0.0.1", upload));
            }
            assertEquals(slots, hook.thrown.size(), "the hook ran in the requests and the JVM threw each time");
            ServeFixture.Response next = f.raw("POST", "/api/search?k=3", "127.0.0.1", upload);
            assertEquals(200, next.status(), next.body());
            assertEquals(3, JSON.readTree(next.body()).get("neighbors").size());
        }
    }

    @Test
    void aSearchThatRunsOutOfMemoryIsA503AndTheNextSearchIsAnswered(@TempDir Path tmp) throws Exception {
        try (ServeFixture f = new ServeFixture(tmp, 6, 3)) {
            FailTimes hook = new FailTimes("search", 1);
            f.server.allocationHook(hook);
            assertOneLineJson503(f.raw("GET", "/api/neighbors/1?k=2", "127.0.0.1", null));
            assertEquals(1, hook.thrown.size());
            ServeFixture.Response next = f.raw("GET", "/api/neighbors/1?k=2", "127.0.0.1", null);
            assertEquals(200, next.status(), next.body());
            assertEquals(2, JSON.readTree(next.body()).get("neighbors").size());
        }
    }
}
