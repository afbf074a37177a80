package io.moco4j.index;

import io.moco4j.api.EmbeddingIndex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.api.Encoder;
import io.moco4j.api.TinyEncoders;
import io.moco4j.serve.EmbeddingCache;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FolderIndexerTest {
    @TempDir
    static Path tmp;
    static Encoder encoder;
    static Path ckpt;
    static FolderIndexer.Origin origin;

    @BeforeAll
    static void load() throws Exception {
        ckpt = TinyEncoders.checkpoint(tmp, 5);
        encoder = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4));
        origin = new FolderIndexer.Origin(ckpt, EmbeddingCache.sha256(ckpt), "backbone");
    }

    @AfterAll
    static void close() {
        encoder.close();
    }

    static FolderIndexer.Result sync(Path images, Path out) {
        return FolderIndexer.sync(images, out, encoder, origin, IndexSettings.defaults(), false, 5, (d, t) -> { });
    }

    /** Path -> stored vector of every row, read back from the committed index. */
    static Map<String, float[]> contents(Path out) throws Exception {
        Map<String, float[]> m = new HashMap<>();
        try (LuceneVectorIndex idx = LuceneVectorIndex.open(out)) {
            for (int r = 0; r < idx.size(); r++) {
                m.put(idx.path(r), idx.vector(r));
            }
        }
        return m;
    }

    static float[] unit(float[] v) {
        return EmbeddingIndex.normalised(v);
    }

    @Test
    void aSecondRunAddsNewAndChangedFilesAndRemovesDeletedOnes() throws Exception {
        Path images = tmp.resolve("inc");
        List<Path> files = TinyEncoders.sceneFolder(images, 12, 21);
        Path out = tmp.resolve("inc-index");

        FolderIndexer.Result first = sync(images, out);
        assertEquals(12, first.added());
        assertEquals(12, first.rows());
        Map<String, float[]> before = contents(out);
        assertEquals(12, before.size());
        for (Path f : files) { // each row is the encoder's embedding of its own file
            String rel = images.relativize(f).toString().replace('\\', '/');
            assertArrayEquals(unit(encoder.embed(f)), before.get(rel), 1e-5f, rel);
        }

        FolderIndexer.Result again = sync(images, out);
        assertEquals(new FolderIndexer.Result(0, 0, 0, 12, 0, 12), again);

        // add two files, change one (other content, later time), delete two
        List<Path> extra = TinyEncoders.sceneFolder(tmp.resolve("more"), 2, 99);
        Path added1 = files.get(0).resolveSibling("new-a.png");
        Path added2 = files.get(1).resolveSibling("new-b.png");
        Files.copy(extra.get(0), added1);
        Files.copy(extra.get(1), added2);
        Path changed = files.get(5);
        Files.copy(files.get(6), changed, StandardCopyOption.REPLACE_EXISTING); // same size is possible; time differs
        Files.setLastModifiedTime(changed, FileTime.fromMillis(Files.getLastModifiedTime(changed).toMillis() + 5_000));
        Files.delete(files.get(10));
        Files.delete(files.get(11));

        FolderIndexer.Result third = sync(images, out);
        assertEquals(2, third.added());
        assertEquals(1, third.changed());
        assertEquals(2, third.removed());
        assertEquals(9, third.unchanged());
        assertEquals(12, third.rows());
        Map<String, float[]> after = contents(out);
        assertEquals(12, after.size());
        String rel = images.relativize(changed).toString().replace('\\', '/');
        assertArrayEquals(unit(encoder.embed(files.get(6))), after.get(rel), 1e-5f, "the changed file is re-embedded");
        assertFalse(after.containsKey(images.relativize(files.get(10)).toString().replace('\\', '/')));
        assertTrue(after.containsKey(images.relativize(added1).toString().replace('\\', '/')));
        assertArrayEquals(unit(encoder.embed(added2)), after.get(images.relativize(added2).toString().replace('\\', '/')), 1e-5f);
        String kept = images.relativize(files.get(2)).toString().replace('\\', '/');
        assertArrayEquals(before.get(kept), after.get(kept), 0f, "an unchanged file keeps its vector");
    }

    @Test
    void anIndexOfAnotherCheckpointIsRefusedUnlessRebuilt() throws Exception {
        Path images = tmp.resolve("other");
        TinyEncoders.sceneFolder(images, 4, 3);
        Path out = tmp.resolve("other-index");
        sync(images, out);
        FolderIndexer.Origin another = new FolderIndexer.Origin(ckpt, "0".repeat(64), "backbone");
        UserException e = assertThrows(UserException.class,
                () -> FolderIndexer.sync(images, out, encoder, another, IndexSettings.defaults(), false, 5, (d, t) -> { }));
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains("--rebuild"), e.getMessage());
        FolderIndexer.Result rebuilt = FolderIndexer.sync(images, out, encoder, another, IndexSettings.defaults(), true, 5, (d, t) -> { });
        assertEquals(4, rebuilt.added());
        assertEquals(4, contents(out).size());
    }

    @Test
    void anUnreadableFileIsLeftOutAndAChangedFileThatBreaksLosesItsOldVector() throws Exception {
        Path images = tmp.resolve("broken");
        List<Path> files = TinyEncoders.sceneFolder(images, 6, 8);
        Path out = tmp.resolve("broken-index");
        sync(images, out);
        Files.write(files.get(2), new byte[] {1, 2, 3, 4, 5}); // now damaged
        Files.setLastModifiedTime(files.get(2), FileTime.fromMillis(Files.getLastModifiedTime(files.get(2)).toMillis() + 5_000));
        FolderIndexer.Result r = sync(images, out);
        assertEquals(1, r.skipped());
        assertEquals(5, r.rows());
        assertFalse(contents(out).containsKey(images.relativize(files.get(2)).toString().replace('\\', '/')));
    }
}
