package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.io.Npy;
import io.moco4j.io.Npy.NpyArray;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddingWriterTest {
    @TempDir
    Path dir;

    @Test
    void rowsAppendedInBatchesReadBackWithNpy() throws Exception {
        Path npy = dir.resolve("e.npy");
        Path idx = dir.resolve("e.txt");
        try (EmbeddingWriter w = EmbeddingWriter.open(npy, idx, 3, 2)) {
            w.append(new float[] {1.5f, -2f, 3f, 4.25f}, List.of("a.png", "b\nc.png"));
            w.append(new float[] {-0f, 1e-30f}, List.of("d.png"));
        }
        NpyArray a = Npy.read(npy);
        assertEquals("<f4", a.dtype());
        assertArrayEquals(new long[] {3, 2}, a.shape());
        assertArrayEquals(new float[] {1.5f, -2f, 3f, 4.25f, -0f, 1e-30f}, a.toFloatArray());
        assertEquals(List.of("a.png", "b\\nc.png", "d.png"), Files.readAllLines(idx));
        assertFalse(Files.exists(dir.resolve("e.npy.partial")));
    }

    @Test
    void wrongRowCountSavesNothing() {
        Path npy = dir.resolve("e.npy");
        EmbeddingWriter w = EmbeddingWriter.open(npy, dir.resolve("e.txt"), 3, 2);
        w.append(new float[] {1, 2}, List.of("a"));
        assertThrows(IllegalStateException.class, w::close);
        assertFalse(Files.exists(npy));
        assertFalse(Files.exists(dir.resolve("e.npy.partial")));
        EmbeddingWriter w2 = EmbeddingWriter.open(npy, dir.resolve("e.txt"), 1, 2);
        assertThrows(IllegalStateException.class, () -> w2.append(new float[] {1, 2, 3, 4}, List.of("a", "b")));
        assertThrows(IllegalArgumentException.class, () -> w2.append(new float[] {1, 2, 3}, List.of("a")));
    }

    @Test
    void embedderWritesFeaturesIndexLabelsAndMeta() throws Exception {
        int[][] colours = {{255, 0, 0}, {0, 51, 0}, {0, 0, 102}, {255, 255, 255}, {10, 20, 30}};
        var ds = ToyData.solid(colours, new int[] {0, 1, 1, 0, 1}, List.of("cat", "dog"));
        try (NDManager m = NDManager.newBaseManager()) {
            Embedder.Result r = Embedder.run(ds, ToyData.toTensor(), ToyData::meanPool, FeatureLayer.BACKBONE, 2, m, dir, "emb");
            assertEquals(5, r.rows());
            assertEquals(3, r.dim());
            NpyArray a = Npy.read(r.embeddings());
            assertArrayEquals(new long[] {5, 3}, a.shape());
            float[] v = a.toFloatArray();
            for (int i = 0; i < 5; i++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(colours[i][c] / 255f, v[i * 3 + c], 1e-6, "row " + i + " channel " + c);
                }
            }
            assertEquals(List.of("toy/img_0.png", "toy/img_1.png", "toy/img_2.png", "toy/img_3.png", "toy/img_4.png"),
                    Files.readAllLines(r.index()));
            assertArrayEquals(new long[] {0, 1, 1, 0, 1}, Npy.read(r.labels()).toLongArray());
            JsonNode meta = new ObjectMapper().readTree(dir.resolve("emb.json").toFile());
            assertEquals("backbone", meta.get("layer").asText());
            assertEquals(3, meta.get("dim").asInt());
        }
    }

    @Test
    void unlabeledSetHasNoLabelsFile() {
        var ds = ToyData.solid(new int[][] {{1, 2, 3}}, new int[] {0}, List.of());
        try (NDManager m = NDManager.newBaseManager()) {
            Embedder.Result r = Embedder.run(ds, ToyData.toTensor(), ToyData::meanPool, FeatureLayer.HEAD, 8, m, dir, "u");
            assertNull(r.labels());
            assertTrue(Files.exists(r.embeddings()));
            assertFalse(Files.exists(dir.resolve("u.labels.npy")));
        }
    }
}
