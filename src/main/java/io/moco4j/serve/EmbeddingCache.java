package io.moco4j.serve;

import ai.djl.ndarray.NDArray;
import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Encoder;
import io.moco4j.eval.EmbeddingWriter;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Embeddings of a folder kept on disk between runs of {@code serve}: {@code <key>.npy} (float32, one row per image
 * in gallery order) and {@code <key>.txt} (the relative paths, same order: the images that could be decoded, so
 * a hit also knows which files were left out). The key hashes the folder listing
 * (every indexed file's relative path, size and modification time), the checkpoint's content hash, the feature
 * layer and the image size, so any change to the images or the weights makes a new entry instead of a stale hit.
 */
public final class EmbeddingCache {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddingCache.class);
    private final Path folder;

    public EmbeddingCache(Path folder) {
        this.folder = folder;
    }

    /**
     * The cache folder "beside the run": {@code runs/NAME/serve-cache} for {@code runs/NAME/checkpoints/x.ckpt},
     * else a {@code serve-cache} folder next to the checkpoint file.
     */
    public static Path besideRun(Path checkpoint) {
        Path parent = checkpoint.toAbsolutePath().getParent();
        if (parent.getFileName() != null && parent.getFileName().toString().equals("checkpoints") && parent.getParent() != null) {
            parent = parent.getParent();
        }
        return parent.resolve("serve-cache");
    }

    public Path folder() {
        return folder;
    }

    /** SHA-256 of a file's bytes, in hex. */
    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) {
                md.update(buf, 0, r);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check the path");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String key(Gallery.Listing listing, String checkpointHash, Encoder encoder) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            StringBuilder head = new StringBuilder("moco4j-serve-cache 2\n").append(checkpointHash).append('\n')
                    .append(encoder.layer().id()).append('\n').append(encoder.imageSize()).append('\n');
            md.update(head.toString().getBytes(StandardCharsets.UTF_8));
            for (Gallery.Item item : listing.items()) {
                long size;
                long mtime;
                try {
                    size = Files.size(item.file());
                    mtime = Files.getLastModifiedTime(item.file()).toMillis();
                } catch (IOException e) {
                    size = -1;
                    mtime = -1;
                }
                md.update((item.path() + '\t' + item.label() + '\t' + size + '\t' + mtime + '\n').getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 32);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    Path npy(String key) {
        return folder.resolve(key + ".npy");
    }

    /** A cached index and the relative paths of its rows. */
    record Entry(EmbeddingIndex index, List<String> paths) {}

    /**
     * The cached entry for {@code key}, or null when there is none, or it does not have at most {@code listed}
     * rows of {@code dim} with one distinct listed path per row.
     */
    Entry read(String key, Gallery.Listing listing, int dim) {
        Path file = npy(key);
        Path names = folder.resolve(key + ".txt");
        if (!Files.isRegularFile(file) || !Files.isRegularFile(names)) {
            return null;
        }
        try {
            EmbeddingIndex index = EmbeddingIndex.load(file);
            List<String> paths = Files.readAllLines(names, StandardCharsets.UTF_8);
            Set<String> listed = new HashSet<>();
            listing.items().forEach(item -> listed.add(item.path()));
            if (!paths.isEmpty() && index.dimension() == dim && index.size() == paths.size() && index.size() <= listed.size()
                    && listed.containsAll(paths) && new HashSet<>(paths).size() == paths.size()) {
                return new Entry(index, paths);
            }
            LOG.warn("ignoring the cached embeddings {}: {} x {} with {} paths do not match the {} listed images",
                    file, index.size(), index.dimension(), paths.size(), listed.size());
        } catch (UserException | IOException e) {
            LOG.warn("ignoring the unreadable cached embeddings {}: {}", file, e.getMessage());
        }
        return null;
    }

    /** Receives one batch of embeddings and the relative paths of its rows. */
    @FunctionalInterface
    interface Sink {
        void accept(NDArray batch, List<String> paths);
    }

    /**
     * Builds the index from the batches {@code producer} hands to its sink (at most {@code listed} rows), writing
     * them to the cache as they come. When the cache folder cannot be written the index is still built (a warning
     * says the cache is off).
     */
    EmbeddingIndex write(String key, int listed, int dim, Consumer<Sink> producer) {
        EmbeddingIndex.Builder builder = EmbeddingIndex.builder(dim, EmbeddingIndex.DEFAULT_CHUNK_ROWS);
        EmbeddingWriter writer = null;
        try {
            Files.createDirectories(folder);
            writer = EmbeddingWriter.openAtMost(npy(key), folder.resolve(key + ".txt"), listed, dim);
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot write the embedding cache in {} ({}); embeddings will be computed again next time", folder, e.getMessage());
        }
        EmbeddingWriter w = writer;
        try {
            producer.accept((batch, paths) -> {
                int rows = Math.toIntExact(batch.getShape().get(0));
                float[] flat = batch.toFloatArray();
                float[] r = new float[dim];
                for (int i = 0; i < rows; i++) {
                    System.arraycopy(flat, i * dim, r, 0, dim);
                    builder.add(r);
                }
                if (w != null) {
                    w.append(flat, paths);
                }
            });
            if (w != null) {
                w.close();
            }
        } catch (RuntimeException e) {
            if (w != null) {
                try {
                    w.close(); // deletes the partial files
                } catch (RuntimeException closing) {
                    e.addSuppressed(closing);
                }
            }
            throw e;
        }
        return builder.build();
    }
}
