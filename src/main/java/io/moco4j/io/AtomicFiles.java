package io.moco4j.io;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Writes a file so that readers only ever see the old or the complete new content: the data goes to a
 * temporary file in the same folder, is forced to disk, and is then renamed over the target. A crash at
 * any point leaves the previous file intact (at worst a stray temporary file). A write that fails (a full
 * disk) removes its temporary file and becomes one {@link UserException} line saying the target is intact.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    @FunctionalInterface
    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    public static void write(Path target, Writer writer) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        try {
            writeAtomically(target, dir, writer);
        } catch (UserException e) {
            throw e;
        } catch (IOException e) {
            // Typically a full disk or quota: the target was never touched, so say that it is intact.
            throw new UserException("cannot write " + target + " (" + e.getMessage() + "); "
                    + (Files.exists(target) ? "its previous version is intact" : "nothing was written")
                    + ". Free disk space in " + dir + " and run again (pretrain: add --resume)", e);
        }
    }

    private static void writeAtomically(Path target, Path dir, Writer writer) throws IOException {
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        // createTempFile makes the file owner-only; outputs are ordinary files others may read.
        try {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: keep its defaults
        }
        try {
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                 OutputStream out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(channel), 1 << 20)) {
                writer.write(out);
                out.flush();
                channel.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
