package io.moco4j.eval;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewTransform;
import io.moco4j.io.Npy;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Exports features of every image of a data set: {@code <name>.npy} (float32, (N, D)),
 * {@code <name>.txt} (one image description per line, same order), {@code <name>.labels.npy} (int64, only
 * for labelled sets) and {@code <name>.json} (count, dimension, feature layer, classes). Images that cannot
 * be decoded (damaged files, decompression bombs) are skipped with one warning each and counted; the index
 * lists exactly the rows written.
 */
public final class Embedder {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Embedder.class);
    /** What was written. */
    public record Result(Path embeddings, Path index, Path labels, long rows, int dim, FeatureLayer layer, int skipped) {}

    private Embedder() {}

    /** Closes an unfinished writer (which deletes its partial files) and returns the original failure. */
    private static RuntimeException abandon(EmbeddingWriter writer, RuntimeException failure) {
        if (writer != null) {
            try {
                writer.close();
            } catch (RuntimeException closing) {
                failure.addSuppressed(closing);
            }
        }
        return failure;
    }

    public static Result run(ImageDataset dataset, ViewTransform transform, FeatureFunction features, FeatureLayer layer,
                             int batchSize, NDManager manager, Path outDir, String name) {
        int n = dataset.size();
        if (n == 0) {
            throw new UserException("the data set to embed is empty; point it at a folder with images");
        }
        Path npyFile = outDir.resolve(name + ".npy");
        Path indexFile = outDir.resolve(name + ".txt");
        if (batchSize < 1) {
            throw new UserException("batch size must be at least 1 (got " + batchSize + ")");
        }
        EmbeddingWriter[] writer = new EmbeddingWriter[1];
        int[] dim = new int[1];
        List<Long> labelsKept = new ArrayList<>();
        int[] skipped = new int[1];
        try {
            Files.createDirectories(outDir);
            FeatureBank.forEachReadableBatch(dataset, transform, features, batchSize, manager, (indices, f) -> {
                if (writer[0] == null) {
                    dim[0] = Math.toIntExact(f.getShape().get(1));
                    writer[0] = EmbeddingWriter.openAtMost(npyFile, indexFile, n, dim[0]);
                }
                List<String> names = new ArrayList<>();
                for (int i : indices) {
                    names.add(dataset.describe(i));
                    labelsKept.add((long) dataset.label(i));
                }
                writer[0].append(f, names);
            }, failure -> {
                LOG.warn("skipping unreadable image {}", failure);
                skipped[0]++;
            });
            if (writer[0] == null) {
                throw new UserException("none of the " + n + " images could be decoded (see the warnings above);"
                        + " point --images at a folder of readable images (jpg/png/bmp/gif)");
            }
            writer[0].close();
            int rows = n - skipped[0];
            Path labelsFile = null;
            if (dataset.isLabeled()) {
                long[] labels = labelsKept.stream().mapToLong(Long::longValue).toArray();
                labelsFile = outDir.resolve(name + ".labels.npy");
                Npy.writeInt64(labelsFile, labels, rows);
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode meta = json.createObjectNode();
            meta.put("rows", rows);
            meta.put("skipped_unreadable", skipped[0]);
            meta.put("dim", dim[0]);
            meta.put("dtype", "float32");
            meta.put("layer", layer.id());
            meta.put("index", indexFile.getFileName().toString());
            meta.putPOJO("classes", dataset.classes());
            json.writerWithDefaultPrettyPrinter().writeValue(outDir.resolve(name + ".json").toFile(), meta);
            return new Result(npyFile, indexFile, labelsFile, rows, dim[0], layer, skipped[0]);
        } catch (IOException e) {
            throw abandon(writer[0], new UncheckedIOException("cannot write embeddings to " + outDir + ": " + e.getMessage(), e));
        } catch (RuntimeException e) {
            throw abandon(writer[0], e);
        }
    }
}
