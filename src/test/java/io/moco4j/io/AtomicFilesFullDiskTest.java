package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A write that fails half-way (as on a full disk) leaves the old file and no temporary file, and says so in one line. */
class AtomicFilesFullDiskTest {
    @Test
    void aFailedWriteKeepsThePreviousFileAndLeavesNoTemporary(@TempDir Path dir) throws Exception {
        Path target = dir.resolve("last.ckpt");
        byte[] old = {1, 2, 3, 4};
        AtomicFiles.write(target, out -> out.write(old));
        UserException e = assertThrows(UserException.class, () -> AtomicFiles.write(target, out -> {
            out.write(new byte[3 << 20]); // more than the buffer, so part of it reached the temporary file
            throw new IOException("No space left on device");
        }));
        assertTrue(e.getMessage().startsWith("cannot write " + target + " (No space left on device); its previous version is intact"),
                e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertArrayEquals(old, Files.readAllBytes(target));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "only last.ckpt: the partial temporary file is gone");
        }
    }

    @Test
    void aFailedFirstWriteSaysNothingWasWritten(@TempDir Path dir) {
        Path target = dir.resolve("new.ckpt");
        UserException e = assertThrows(UserException.class, () -> AtomicFiles.write(target, out -> {
            throw new IOException("Disk quota exceeded");
        }));
        assertTrue(e.getMessage().contains("(Disk quota exceeded); nothing was written"), e.getMessage());
        assertTrue(Files.notExists(target));
    }
}
