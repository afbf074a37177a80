package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bulk writer on its own: awkward paths survive the JSON, long ones get a hashed id, big exports are split. */
class OpenSearchExportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void pathsThatNeedEscapingAndLongPathsParseBackAndBigExportsAreSplit(@TempDir Path tmp) throws Exception {
        List<String> paths = new ArrayList<>();
        paths.add("a \"quoted\" \\ name\twith\ncontrol.jpg");
        paths.add("dir/" + "x".repeat(600) + ".png"); // above the engines' 512-byte id limit
        for (int i = 0; i < 200; i++) {
            paths.add("class" + (i % 3) + "/img" + i + ".jpg");
        }
        Files.createDirectories(tmp.resolve("out"));
        Files.writeString(tmp.resolve("out/bulk-0099.ndjson"), "stale"); // from an earlier export
        OpenSearchExport.Result r;
        try (OpenSearchExport export = OpenSearchExport.open(tmp.resolve("out"), "test-index", 4096)) {
            for (int i = 0; i < paths.size(); i++) {
                export.add(paths.get(i), i < 2 ? null : "c" + (i % 3), new float[] {i, 1, -2, 0.5f});
            }
            r = export.finish();
        }
        assertTrue(r.bulkFiles().size() > 1, "4 kB parts: more than one file, got " + r.bulkFiles());
        assertFalse(Files.exists(tmp.resolve("out/bulk-0099.ndjson")), "stale bulk files are removed");
        Set<String> ids = new HashSet<>();
        List<String> docPaths = new ArrayList<>();
        for (Path part : r.bulkFiles()) {
            List<String> lines = Files.readAllLines(part);
            assertEquals(0, lines.size() % 2, part + " ends inside a pair");
            assertTrue(Files.readString(part).endsWith("\n"), "the bulk API needs a final newline");
            for (int i = 0; i < lines.size(); i += 2) {
                String id = JSON.readTree(lines.get(i)).at("/index/_id").asText();
                assertTrue(ids.add(id));
                assertTrue(id.getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= 512, id);
                JsonNode doc = JSON.readTree(lines.get(i + 1));
                docPaths.add(doc.get("path").asText());
                double norm = 0;
                for (JsonNode x : doc.get("vector")) {
                    norm += x.doubleValue() * x.doubleValue();
                }
                assertEquals(1.0, norm, 1e-6, "unit vectors (float rounding of 4 values)");
            }
        }
        assertEquals(paths, docPaths, "every path back, in order, unchanged by the escaping");
        assertEquals(paths.size(), r.documents());
        assertTrue(ids.contains(paths.get(0)), "short paths are their own id");
        assertFalse(ids.contains(paths.get(1)), "a path above 512 bytes gets a hashed id");
    }
}
