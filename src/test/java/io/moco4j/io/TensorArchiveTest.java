package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorArchiveTest {

    @Test
    void roundTripsFloatAndLongTensorsInOrder(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("a.ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("w", m.create(new float[] {1.5f, -2f, 3f, 4f, 5f, 6f}, new Shape(2, 3)));
            t.put("n", m.create(7L));
            t.put("v", m.create(new float[] {0.25f}));
            TensorArchive.write(file, "{\"epoch\":3}", t);
            TensorArchive.Contents c = TensorArchive.read(file);
            assertEquals("{\"epoch\":3}", c.metaJson());
            assertEquals(java.util.List.of("w", "n", "v"), java.util.List.copyOf(c.tensors().keySet()));
            assertArrayEquals(new long[] {2, 3}, c.tensor("w").shape());
            assertArrayEquals(new float[] {1.5f, -2f, 3f, 4f, 5f, 6f}, c.tensor("w").toFloatArray());
            assertEquals("<i8", c.tensor("n").dtype());
            assertEquals(0, c.tensor("n").shape().length);
            assertArrayEquals(new long[] {7}, c.tensor("n").toLongArray());
            TensorArchive.Contents metaOnly = TensorArchive.readMeta(file);
            assertEquals("{\"epoch\":3}", metaOnly.metaJson());
            assertTrue(metaOnly.tensors().isEmpty(), "readMeta reads no tensor");
            NDArray back = TensorArchive.toNDArray(c.tensor("n"), m);
            assertEquals(ai.djl.ndarray.types.DataType.INT64, back.getDataType());
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file is left behind");
        }
    }

    @Test
    void damagedFilesGiveOneClearLine(@TempDir Path dir) throws Exception {
        Path good = dir.resolve("good.ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TensorArchive.write(good, "{}", Map.of("x", m.ones(new Shape(100))));
        }
        byte[] bytes = Files.readAllBytes(good);
        Path truncated = dir.resolve("truncated.ckpt");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        Path text = dir.resolve("text.ckpt");
        Files.writeString(text, "hello");
        for (Path p : new Path[] {truncated, text, dir.resolve("missing.ckpt")}) {
            UserException e = assertThrows(UserException.class, () -> TensorArchive.read(p));
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        }
    }

    @Test
    void failedWriteKeepsThePreviousFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("last.ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            TensorArchive.write(file, "{\"v\":1}", Map.of("x", m.ones(new Shape(3))));
        }
        assertThrows(UserException.class, () -> AtomicFiles.write(file, out -> { // one line saying the old file is intact
            out.write(new byte[] {1, 2, 3});
            throw new java.io.IOException("disk full");
        }));
        assertEquals("{\"v\":1}", TensorArchive.read(file).metaJson());
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
    }
}
