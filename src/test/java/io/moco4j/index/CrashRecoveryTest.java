package io.moco4j.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A writer process killed (SIGKILL) between commits: the index opens at its last commit and can be written on. */
class CrashRecoveryTest {
    @TempDir
    Path tmp;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void anIndexKilledMidWriteOpensAtItsLastCommit() throws Exception {
        Path dir = tmp.resolve("idx");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process child = new ProcessBuilder(java.toString(), "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                CrashingWriterMain.class.getName(), dir.toString(), "1500", "6000").redirectErrorStream(true).start();
        int filesAtCommit = -1;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null; ) {
                if (line.equals("COMMITTED")) {
                    filesAtCommit = count(dir);
                } else if (line.equals("WRITTEN")) {
                    break;
                }
            }
            assertTrue(filesAtCommit > 0, "the child never committed");
            // The child wrote uncommitted segments to disk before it dies: this is a crash mid-write.
            assertTrue(count(dir) > filesAtCommit, "no uncommitted segment files on disk: " + count(dir) + " vs " + filesAtCommit);
        } finally {
            child.destroyForcibly(); // SIGKILL: no shutdown hook, no rollback, the lock file stays
            child.waitFor(60, TimeUnit.SECONDS);
        }
        try (LuceneVectorIndex idx = LuceneVectorIndex.open(dir)) {
            assertEquals(1500, idx.size());
            assertEquals("1500", idx.metadata().get("rows"));
            Set<String> paths = new HashSet<>();
            for (int r = 0; r < idx.size(); r++) {
                paths.add(idx.path(r));
            }
            for (int i = 0; i < 1500; i++) {
                assertTrue(paths.contains("r" + i), "committed row r" + i + " lost");
            }
            float[] q = idx.vector(7);
            assertEquals(7, idx.search(q, 1).get(0).id(), "the committed graph still finds a row itself");
        }
        // A new writer takes over (the dead process's lock is released with it) and commits on top.
        try (VectorIndexWriter w = VectorIndexWriter.open(dir, IndexSettings.defaults(), 64, 16)) {
            w.put("after", 0, 0, null, LuceneVectorIndexTest.clustered(1, 64, 3)[0]);
            w.commit(Map.of("rows", "1501"));
        }
        try (LuceneVectorIndex idx = LuceneVectorIndex.open(dir)) {
            assertEquals(1501, idx.size());
        }
    }

    private static int count(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return (int) s.count();
        }
    }
}
