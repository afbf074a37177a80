package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.api.TinyEncoders;
import io.moco4j.io.Npy;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code embed --format opensearch}: the bulk files parse back to one document per image with the npy export's vectors. */
class OpenSearchExportCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    @Test
    void bulkFilesHoldEveryImageOnceWithItsUnitVectorAndTheMappingsTheDimension() throws Exception {
        Path ckpt = TinyEncoders.checkpoint(tmp, 1);
        List<Path> files = TinyEncoders.sceneFolder(tmp.resolve("img"), 11, 2);
        StringWriter err = new StringWriter();
        assertEquals(0, Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("img").toString(), "--out", tmp.resolve("os").toString(), "--format", "opensearch",
                "--index-name", "scenes", "--device", "cpu"), err.toString());
        assertEquals(0, Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("img").toString(), "--out", tmp.resolve("e.npy").toString(), "--device", "cpu"), err.toString());
        float[] npy = Npy.read(tmp.resolve("e.npy")).toFloatArray();
        List<String> order = Files.readAllLines(tmp.resolve("e.txt"));
        int dim = npy.length / order.size();

        List<String> lines = Files.readAllLines(tmp.resolve("os/bulk-0001.ndjson"));
        assertFalse(Files.exists(tmp.resolve("os/bulk-0002.ndjson")), "11 small documents fit one bulk file");
        assertEquals(2 * files.size(), lines.size(), "an action line and a document line per image");
        Set<String> ids = new HashSet<>();
        Map<String, float[]> byPath = new HashMap<>();
        for (int i = 0; i < lines.size(); i += 2) {
            JsonNode action = JSON.readTree(lines.get(i)).get("index");
            assertNotNull(action, "line " + i + " is an index action: " + lines.get(i));
            assertEquals("scenes", action.get("_index").asText());
            assertTrue(ids.add(action.get("_id").asText()), "duplicate id " + action.get("_id"));
            JsonNode doc = JSON.readTree(lines.get(i + 1));
            assertEquals(action.get("_id").asText(), doc.get("path").asText());
            assertEquals(Path.of(doc.get("path").asText()).getParent().getFileName().toString(), doc.get("label").asText());
            JsonNode v = doc.get("vector");
            assertEquals(dim, v.size(), "line " + (i + 1));
            float[] f = new float[dim];
            for (int j = 0; j < dim; j++) {
                f[j] = v.get(j).floatValue();
            }
            byPath.put(doc.get("path").asText(), f);
        }
        assertEquals(files.size(), ids.size());
        // Each vector is the npy row over its norm. Tolerance: the export multiplies by a float reciprocal, this
        // test divides in double; the two roundings differ by a few float ulps of values <= 1 (ulp 2^-24..2^-23).
        for (int r = 0; r < order.size(); r++) {
            float[] got = byPath.get(order.get(r));
            assertNotNull(got, order.get(r) + " missing from the bulk file");
            double norm = 0;
            for (int j = 0; j < dim; j++) {
                norm += (double) npy[r * dim + j] * npy[r * dim + j];
            }
            for (int j = 0; j < dim; j++) {
                assertEquals(npy[r * dim + j] / Math.sqrt(norm), got[j], 1e-6, order.get(r) + " value " + j);
            }
        }
        JsonNode os = JSON.readTree(tmp.resolve("os/opensearch-index.json").toFile());
        assertTrue(os.at("/settings/index/knn").asBoolean());
        assertEquals("knn_vector", os.at("/mappings/properties/vector/type").asText());
        assertEquals(dim, os.at("/mappings/properties/vector/dimension").asInt());
        assertEquals("cosinesimil", os.at("/mappings/properties/vector/method/space_type").asText());
        JsonNode es = JSON.readTree(tmp.resolve("os/elasticsearch-index.json").toFile());
        assertEquals("dense_vector", es.at("/mappings/properties/vector/type").asText());
        assertEquals(dim, es.at("/mappings/properties/vector/dims").asInt());
        assertEquals("cosine", es.at("/mappings/properties/vector/similarity").asText());
        assertTrue(es.at("/settings").isMissingNode(), "Elasticsearch refuses the index.knn setting");
    }

    @Test
    void aBadIndexNameIsOneLineBeforeAnythingIsEmbedded() {
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "embed", "--random-init", "cpu-small", "--images", tmp.toString(),
                "--out", tmp.resolve("os").toString(), "--format", "opensearch", "--index-name", "My/Index");
        assertEquals(2, code, err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().contains("--index-name My/Index is not a valid index name"), err.toString());
        assertFalse(Files.exists(tmp.resolve("os")), "nothing written");
    }
}
