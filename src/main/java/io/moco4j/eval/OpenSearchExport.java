package io.moco4j.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.data.ImageDataset;
import io.moco4j.util.UserException;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Writes embeddings for a search cluster: bulk files in the {@code _bulk} API's NDJSON (an action line
 * {@code {"index":{"_index":NAME,"_id":PATH}}} then the document {@code {"path":..,"label":..,"vector":[..]}}) and
 * the index definitions: {@code opensearch-index.json} ({@code knn_vector}, HNSW on the lucene engine, space
 * {@code cosinesimil}, settings {@code index.knn: true}) and {@code elasticsearch-index.json} ({@code dense_vector},
 * indexed, similarity {@code cosine}). Two definitions because the engines disagree: Elasticsearch refuses the
 * {@code index.knn} setting and the {@code knn_vector} type, OpenSearch has no {@code dense_vector}; the bulk files
 * are the same for both.
 *
 * <p>The vectors are written unit-normalised, as MoCo4J searches them (cosine); the ids are the image paths, so
 * loading again replaces documents instead of duplicating them. A bulk file is closed after about
 * {@link #MAX_PART_BYTES} so no request goes over the 100 MB default {@code http.max_content_length} of both engines.
 * All JSON goes through Jackson (the project's JSON library): paths with quotes or control characters are escaped
 * by it, never by hand.
 */
public final class OpenSearchExport implements Closeable {
    /** Bulk files are cut after this many bytes (both engines refuse requests above 100 MB by default). */
    public static final long MAX_PART_BYTES = 40L << 20;
    /** Elasticsearch and OpenSearch refuse a document id longer than 512 bytes. */
    static final int MAX_ID_BYTES = 512;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Index names both engines accept: lowercase, no \ / * ? " < > | , # : or space, not starting with - _ +. */
    private static final Pattern INDEX_NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,254}");

    /** What was written. */
    public record Result(List<Path> bulkFiles, Path openSearchIndex, Path elasticsearchIndex, long documents, int dim) {}

    /** Runs an encoder over a data set, leaving out unreadable images (e.g. {@code encoder::embedReadable}). */
    @FunctionalInterface
    public interface ReadableEmbedder {
        void embed(ImageDataset dataset, FeatureBank.ReadableBatchConsumer consumer, Consumer<String> skipped);
    }

    private final Path dir;
    private final String indexName;
    private final long maxPartBytes;
    private final List<Path> parts = new ArrayList<>();
    private OutputStream part;
    private long partBytes;
    private long documents;
    private int dim = -1;

    private OpenSearchExport(Path dir, String indexName, long maxPartBytes) {
        this.dir = dir;
        this.indexName = checkIndexName(indexName);
        this.maxPartBytes = maxPartBytes;
    }

    /** Starts an export into folder {@code dir} (created) for the index {@code indexName}. */
    public static OpenSearchExport open(Path dir, String indexName) {
        return open(dir, indexName, MAX_PART_BYTES);
    }

    static OpenSearchExport open(Path dir, String indexName, long maxPartBytes) {
        OpenSearchExport export = new OpenSearchExport(dir, indexName, maxPartBytes);
        try {
            Files.createDirectories(dir);
            // bulk files of an earlier export into the same folder would be loaded by the README's loop too
            try (var old = Files.newDirectoryStream(dir, "bulk-*.ndjson")) {
                for (Path p : old) {
                    Files.delete(p);
                }
            }
        } catch (IOException e) {
            throw new UserException("cannot create " + dir + " (" + e.getMessage() + "); pick another --out");
        }
        return export;
    }

    /** Embeds every readable image of {@code dataset} and writes the bulk files and index definitions into {@code dir}. */
    public static Result write(ImageDataset dataset, ReadableEmbedder embedder, Path dir, String indexName, Consumer<String> skipped) {
        if (dataset.size() == 0) {
            throw new UserException("the data set to embed is empty; point it at a folder with images");
        }
        try (OpenSearchExport export = open(dir, indexName)) {
            embedder.embed(dataset, (indices, batch) -> {
                int rows = indices.length;
                float[] flat = batch.toFloatArray();
                int d = flat.length / rows;
                for (int r = 0; r < rows; r++) {
                    float[] v = new float[d];
                    System.arraycopy(flat, r * d, v, 0, d);
                    int i = indices[r];
                    int label = dataset.label(i);
                    export.add(dataset.describe(i), label >= 0 ? dataset.classes().get(label) : null, v);
                }
            }, skipped);
            if (export.documents == 0) {
                throw new UserException("none of the " + dataset.size() + " images could be decoded (see the warnings above);"
                        + " point --images at a folder of readable images (jpg/png/bmp/gif)");
            }
            return export.finish();
        }
    }

    /**
     * The index name as both engines accept it.
     *
     * @throws UserException one line naming the rule when they would refuse it
     */
    public static String checkIndexName(String name) {
        if (name == null || !INDEX_NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
            throw new UserException("--index-name " + name + " is not a valid index name; use lowercase letters, digits, '.', '_'"
                    + " and '-' (not first), at most 255 characters, e.g. --index-name moco4j");
        }
        return name;
    }

    /** Adds one document; {@code label} may be null (an image outside class folders). */
    public void add(String path, String label, float[] vector) {
        if (dim < 0) {
            dim = vector.length;
        } else if (vector.length != dim) {
            throw new IllegalArgumentException(path + " has " + vector.length + " values, the others " + dim);
        }
        ObjectNode action = JSON.createObjectNode();
        ObjectNode index = action.putObject("index");
        index.put("_index", indexName);
        index.put("_id", id(path));
        ObjectNode doc = JSON.createObjectNode();
        doc.put("path", path);
        if (label != null) {
            doc.put("label", label);
        }
        ArrayNode values = doc.putArray("vector");
        for (float x : unit(vector)) {
            values.add(x);
        }
        try {
            byte[] a = JSON.writeValueAsBytes(action);
            byte[] b = JSON.writeValueAsBytes(doc);
            if (part == null || partBytes >= maxPartBytes) {
                nextPart();
            }
            part.write(a);
            part.write('\n');
            part.write(b);
            part.write('\n'); // the bulk API needs the last line to end with a newline too
            partBytes += a.length + b.length + 2;
            documents++;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the bulk file " + parts.get(parts.size() - 1) + ": " + e.getMessage(), e);
        }
    }

    /** Closes the last bulk file and writes the two index definitions. */
    public Result finish() {
        if (dim < 0) {
            throw new IllegalStateException("no document was added");
        }
        closePart();
        Path os = dir.resolve("opensearch-index.json");
        Path es = dir.resolve("elasticsearch-index.json");
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(os.toFile(), openSearchIndex(dim));
            JSON.writerWithDefaultPrettyPrinter().writeValue(es.toFile(), elasticsearchIndex(dim));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the index definitions into " + dir + ": " + e.getMessage(), e);
        }
        return new Result(List.copyOf(parts), os, es, documents, dim);
    }

    /** OpenSearch k-NN: an HNSW graph per segment on the lucene engine, cosine similarity. */
    static ObjectNode openSearchIndex(int dim) {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("settings").putObject("index").put("knn", true);
        ObjectNode props = root.putObject("mappings").putObject("properties");
        props.putObject("path").put("type", "keyword");
        props.putObject("label").put("type", "keyword");
        ObjectNode vector = props.putObject("vector");
        vector.put("type", "knn_vector");
        vector.put("dimension", dim);
        ObjectNode method = vector.putObject("method");
        method.put("name", "hnsw");
        method.put("engine", "lucene");
        method.put("space_type", "cosinesimil");
        ObjectNode params = method.putObject("parameters");
        params.put("m", 16); // Lucene's defaults, as ./moco4j index uses
        params.put("ef_construction", 100);
        return root;
    }

    /** Elasticsearch: an indexed dense_vector (HNSW inside), cosine similarity. */
    static ObjectNode elasticsearchIndex(int dim) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode props = root.putObject("mappings").putObject("properties");
        props.putObject("path").put("type", "keyword");
        props.putObject("label").put("type", "keyword");
        ObjectNode vector = props.putObject("vector");
        vector.put("type", "dense_vector");
        vector.put("dims", dim);
        vector.put("index", true);
        vector.put("similarity", "cosine");
        return root;
    }

    /** The path, or for one longer than the engines accept as an id its SHA-256 (the path stays in the document). */
    static String id(String path) {
        byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= MAX_ID_BYTES) {
            return path;
        }
        try {
            return "sha256-" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    private static float[] unit(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        float[] out = v.clone();
        if (s > 0) {
            float inv = (float) (1 / Math.sqrt(s));
            for (int i = 0; i < out.length; i++) {
                out[i] *= inv;
            }
        }
        return out;
    }

    private void nextPart() throws IOException {
        closePart();
        Path p = dir.resolve(String.format(Locale.ROOT, "bulk-%04d.ndjson", parts.size() + 1));
        part = new java.io.BufferedOutputStream(Files.newOutputStream(p), 1 << 16);
        parts.add(p);
        partBytes = 0;
    }

    private void closePart() {
        if (part != null) {
            try {
                part.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot finish the bulk file " + parts.get(parts.size() - 1) + ": " + e.getMessage(), e);
            } finally {
                part = null;
            }
        }
    }

    @Override
    public void close() {
        closePart();
    }
}
