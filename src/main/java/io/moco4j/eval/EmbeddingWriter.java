package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import io.moco4j.io.Npy;
import java.io.BufferedOutputStream;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Streams an (N, D) float32 {@code .npy} file plus an index text file (one line per row, same order:
 * the image's path or description) without holding all embeddings in memory: the header is written for
 * the announced N, rows are appended as they come. Both files are written under temporary names and
 * renamed on a successful {@link #close()}, which fails if fewer or more than N rows were appended.
 * Line breaks inside a description are written as the two characters {@code \n} so lines stay rows.
 */
public final class EmbeddingWriter implements AutoCloseable {
    private final Path npyFile;
    private final Path indexFile;
    private final Path npyTemp;
    private final Path indexTemp;
    private final long rows;
    private final int dim;
    private final OutputStream npy;
    private final BufferedWriter index;
    private long written;
    private boolean closed;
    private boolean fewerAllowed;
    private int headerLength;

    private EmbeddingWriter(Path npyFile, Path indexFile, long rows, int dim) throws IOException {
        this.npyFile = npyFile;
        this.indexFile = indexFile;
        this.npyTemp = npyFile.resolveSibling(npyFile.getFileName() + ".partial");
        this.indexTemp = indexFile.resolveSibling(indexFile.getFileName() + ".partial");
        this.rows = rows;
        this.dim = dim;
        this.npy = new BufferedOutputStream(Files.newOutputStream(npyTemp), 1 << 20);
        this.index = Files.newBufferedWriter(indexTemp, StandardCharsets.UTF_8);
        byte[] header = Npy.header("<f4", new long[] {rows, dim});
        headerLength = header.length;
        npy.write(header);
    }

    /**
     * A writer for at most {@code rows} rows: when fewer are written (e.g. unreadable images skipped), the
     * header is rewritten with the real count on close instead of the file being refused.
     */
    public static EmbeddingWriter openAtMost(Path npyFile, Path indexFile, long rows, int dim) {
        EmbeddingWriter w = open(npyFile, indexFile, rows, dim);
        w.fewerAllowed = true;
        return w;
    }

    public static EmbeddingWriter open(Path npyFile, Path indexFile, long rows, int dim) {
        if (rows < 0 || dim < 1) {
            throw new IllegalArgumentException("embedding shape (" + rows + ", " + dim + ") is not valid");
        }
        try {
            Path parent = npyFile.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            return new EmbeddingWriter(npyFile, indexFile, rows, dim);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + npyFile + ": " + e.getMessage(), e);
        }
    }

    /** Appends {@code descriptions.size()} rows taken from {@code values} (row-major, D floats per row). */
    public void append(float[] values, List<String> descriptions) {
        int n = descriptions.size();
        if (values.length != (long) n * dim) {
            throw new IllegalArgumentException(values.length + " values for " + n + " rows of dimension " + dim);
        }
        if (written + n > rows) {
            throw new IllegalStateException("appending " + n + " rows would exceed the announced " + rows);
        }
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        try {
            npy.write(b.array());
            for (String d : descriptions) {
                index.write(d.replace("\r", "\\r").replace("\n", "\\n"));
                index.write('\n');
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write embeddings to " + npyTemp + ": " + e.getMessage(), e);
        }
        written += n;
    }

    /** Appends a (rows, D) tensor (copied to the host). */
    public void append(NDArray batch, List<String> descriptions) {
        if (batch.getShape().dimension() != 2 || batch.getShape().get(1) != dim) {
            throw new IllegalArgumentException("expected a (rows, " + dim + ") batch, got " + batch.getShape());
        }
        append(batch.toFloatArray(), descriptions);
    }

    /** Puts the written row count in the header, padded to the original length so the data does not move. */
    private void rewriteRowCount() throws IOException {
        byte[] h = Npy.header("<f4", new long[] {written, dim});
        byte[] fixed = new byte[headerLength];
        System.arraycopy(h, 0, fixed, 0, h.length - 1); // all but the final newline
        java.util.Arrays.fill(fixed, h.length - 1, headerLength - 1, (byte) ' ');
        fixed[headerLength - 1] = '\n';
        int textLength = headerLength - 10; // magic (6) + version (2) + length field (2)
        fixed[8] = (byte) (textLength & 0xff);
        fixed[9] = (byte) (textLength >> 8 & 0xff);
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(npyTemp, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(fixed), 0);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            npy.close();
            index.close();
            if (written < rows && fewerAllowed) {
                rewriteRowCount();
            } else if (written != rows) {
                Files.deleteIfExists(npyTemp);
                Files.deleteIfExists(indexTemp);
                throw new IllegalStateException("embedding file " + npyFile + " announced " + rows
                        + " rows but " + written + " were written; nothing was saved");
            }
            Files.move(npyTemp, npyFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.move(indexTemp, indexFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot finish " + npyFile + ": " + e.getMessage(), e);
        }
    }
}
