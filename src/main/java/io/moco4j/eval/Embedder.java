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
 * for labelled sets) and {@code <name>.json} (count, dimension, feature layer, classes).
 */
public final class Embedder {
    /** What was written. */
    public record Result(Path embeddings, Path index, Path labels, long rows, int dim, FeatureLayer layer) {}

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
        EmbeddingWriter[] writer = new EmbeddingWriter[1];
        int[] dim = new int[1];
        try {
            Files.createDirectories(outDir);
            FeatureBank.forEachBatch(dataset, transform, features, batchSize, manager, (from, batch) -> {
                if (writer[0] == null) {
                    dim[0] = Math.toIntExact(batch.getShape().get(1));
                    writer[0] = EmbeddingWriter.open(npyFile, indexFile, n, dim[0]);
                }
                List<String> names = new ArrayList<>();
                for (int i = from; i < from + batch.getShape().get(0); i++) {
                    names.add(dataset.describe(i));
                }
                writer[0].append(batch, names);
            });
            writer[0].close();
            Path labelsFile = null;
            if (dataset.isLabeled()) {
                long[] labels = new long[n];
                for (int i = 0; i < n; i++) {
                    labels[i] = dataset.label(i);
                }
                labelsFile = outDir.resolve(name + ".labels.npy");
                Npy.writeInt64(labelsFile, labels, n);
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode meta = json.createObjectNode();
            meta.put("rows", n);
            meta.put("dim", dim[0]);
            meta.put("dtype", "float32");
            meta.put("layer", layer.id());
            meta.put("index", indexFile.getFileName().toString());
            meta.putPOJO("classes", dataset.classes());
            json.writerWithDefaultPrettyPrinter().writeValue(outDir.resolve(name + ".json").toFile(), meta);
            return new Result(npyFile, indexFile, labelsFile, n, dim[0], layer);
        } catch (IOException e) {
            throw abandon(writer[0], new UncheckedIOException("cannot write embeddings to " + outDir + ": " + e.getMessage(), e));
        } catch (RuntimeException e) {
            throw abandon(writer[0], e);
        }
    }
}
