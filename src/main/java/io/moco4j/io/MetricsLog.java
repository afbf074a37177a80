package io.moco4j.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Appends JSON-lines records to a run's {@code metrics.jsonl}; each line is flushed so a crash loses nothing. */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;

    private MetricsLog(BufferedWriter out) {
        this.out = out;
    }

    /** A log that keeps nothing: the non-zero ranks of a data-parallel run (rank 0 writes the metrics). */
    public static MetricsLog discarding() {
        return new MetricsLog(new BufferedWriter(java.io.Writer.nullWriter()));
    }

    public MetricsLog(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public static ObjectNode record(String type) {
        return JSON.createObjectNode().put("type", type);
    }

    public void write(ObjectNode record) {
        try {
            out.write(JSON.writeValueAsString(record));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new io.moco4j.util.UserException("cannot append to the metrics log (" + e.getMessage()
                    + "); free disk space, then resume the run with --resume", e);
        }
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
