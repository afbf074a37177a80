package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Truncated, empty and fake image files inside a folder: skipped with one warning each, or fatal when strict. */
class CorruptFilesTest {
    @TempDir
    Path dir;
    private final ListAppender<ILoggingEvent> log = new ListAppender<>();
    private final List<Logger> watched = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        log.start();
        for (Class<?> c : List.of(FallbackLoader.class, ImageFolderDataset.class, ViewLoader.class)) {
            Logger l = (Logger) LoggerFactory.getLogger(c);
            l.addAppender(log);
            watched.add(l);
        }
        for (int i = 0; i < 6; i++) {
            ImageFolderDatasetTest.write(dir.resolve("a/good" + i + ".png"), 4, 4, 0x010101 * (10 + i));
        }
        Path big = ImageFolderDatasetTest.write(dir.resolve("tmp/big.jpg"), 64, 64, 0x336699);
        byte[] jpeg = Files.readAllBytes(big);
        Files.delete(big);
        Files.delete(dir.resolve("tmp"));
        Files.write(dir.resolve("a/good2_truncated.jpg"), java.util.Arrays.copyOf(jpeg, jpeg.length / 2));
        Files.write(dir.resolve("a/good4_empty.jpg"), new byte[0]);
        Files.writeString(dir.resolve("a/good4_text.jpg"), "this is not a JPEG");
    }

    @AfterEach
    void tearDown() {
        watched.forEach(l -> l.detachAppender(log));
    }

    private List<String> warnings() {
        return log.list.stream().filter(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN)
                .map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void badFilesAreSkippedWithOneWarningEachAndCounted() {
        ImageFolderDataset ds = ImageFolderDataset.open(dir, false, false);
        assertEquals(8, ds.size(), "6 good + truncated + text; the empty file is dropped by the scan");
        assertEquals(1, ds.skippedEmptyFiles());
        assertTrue(warnings().stream().anyMatch(w -> w.contains("good4_empty.jpg") && w.contains("empty")), warnings().toString());

        Set<Integer> seen = new HashSet<>();
        try (ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(4))).batchSize(4).workers(2).build();
             NDManager m = NDManager.newBaseManager()) {
            for (int epoch = 0; epoch < 3; epoch++) {
                try (ViewLoader.Epoch it = l.epoch(epoch, m)) {
                    int batches = 0;
                    while (it.hasNext()) {
                        try (ViewBatch b = it.next()) {
                            assertEquals(4, b.size(), "fixed-size batches despite bad files");
                            for (int idx : b.indices()) {
                                seen.add(idx);
                                assertFalse(ds.describe(idx).contains("_"), "a bad file was delivered: " + ds.describe(idx));
                            }
                            batches++;
                        }
                    }
                    assertEquals(2, batches);
                }
            }
            assertEquals(2, l.stats().unreadableImages());
        }
        assertEquals(6, seen.size(), "every good image delivered");
        long truncatedWarnings = warnings().stream().filter(w -> w.contains("good2_truncated.jpg")).count();
        long textWarnings = warnings().stream().filter(w -> w.contains("good4_text.jpg")).count();
        assertEquals(1, truncatedWarnings, "one warning line for the truncated file over 3 epochs: " + warnings());
        assertEquals(1, textWarnings, "one warning line for the text file over 3 epochs: " + warnings());
        assertTrue(warnings().stream().anyMatch(w -> w.contains("2 unreadable image(s)")), "epoch count line: " + warnings());
    }

    @Test
    void strictModeStopsAtTheFirstBadFileAndNamesIt() throws IOException {
        UserException scan = assertThrows(UserException.class, () -> ImageFolderDataset.open(dir, false, true));
        assertTrue(scan.getMessage().contains("good4_empty.jpg"), scan.getMessage());
        Files.delete(dir.resolve("a/good4_empty.jpg"));

        ImageFolderDataset ds = ImageFolderDataset.open(dir, false, true);
        int truncated = -1;
        for (int i = 0; i < ds.size(); i++) {
            if (ds.describe(i).endsWith("good2_truncated.jpg")) {
                truncated = i;
            }
        }
        int index = truncated;
        UserException load = assertThrows(UserException.class, () -> ds.load(index));
        assertTrue(load.getMessage().startsWith(ds.describe(index) + " is not a readable image"), load.getMessage());
        assertTrue(load.getMessage().contains("--strict"), load.getMessage());

        try (ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(4))).batchSize(4).workers(2)
                .shuffle(false).build();
             NDManager m = NDManager.newBaseManager();
             ViewLoader.Epoch it = l.epoch(0, m)) {
            UserException e = assertThrows(UserException.class, () -> {
                while (it.hasNext()) {
                    it.next().close();
                }
            });
            assertTrue(e.getMessage().contains(".jpg is not a readable image"), e.getMessage());
        }
    }
}
