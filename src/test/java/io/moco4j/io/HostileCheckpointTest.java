package io.moco4j.io;

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
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Mutated checkpoints are refused with one line (the long run is bench.HostileCheckpointBench). */
class HostileCheckpointTest {

    static byte[] tinyArchive(Path dir) throws Exception {
        Path f = dir.resolve("tiny.ckpt");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("encoder_q.conv1.weight", m.randomNormal(new Shape(4, 3, 3, 3)));
            t.put("queue", m.randomNormal(new Shape(16, 8)));
            TensorArchive.write(f, "{\"format\":\"moco4j-checkpoint\",\"version\":1}", t);
        }
        return Files.readAllBytes(f);
    }

    @Test
    void mutatedMoco4jArchivesAreRefusedWithOneLine(@TempDir Path tmp) throws Exception {
        byte[] valid = tinyArchive(tmp);
        for (String kind : HostileCheckpoints.KINDS) {
            if (kind.equals("deep-nesting")) {
                continue; // a nested meta.json is parsed (and refused) by train.Checkpoints; see HostileCheckpointBench
            }
            SplittableRandom r = new SplittableRandom(kind.hashCode());
            for (int i = 0; i < 4; i++) {
                Path f = tmp.resolve(kind + i + ".ckpt");
                Files.write(f, HostileCheckpoints.mutate(valid, kind, r));
                UserException e = assertThrows(UserException.class, () -> TensorArchive.read(f), kind + " " + i);
                assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            }
        }
    }

    @Test
    void hugeDeclaredShapesAreRefusedBeforeAllocating(@TempDir Path tmp) throws Exception {
        byte[] valid = tinyArchive(tmp);
        byte[] bomb = HostileCheckpoints.rewrite(valid, (name, data) -> name.endsWith(".npy")
                ? new String(data, java.nio.charset.StandardCharsets.ISO_8859_1)
                        .replaceFirst("'shape': \\(\\d+", "'shape': (4000000").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)
                : data);
        Path f = tmp.resolve("bomb.ckpt");
        Files.write(f, bomb);
        UserException e = assertThrows(UserException.class, () -> TensorArchive.read(f));
        assertTrue(e.getMessage().contains("declares") && e.getMessage().contains("bytes"), e.getMessage());
    }

    @Test
    void mutatedTorchFilesAreReadOrRefusedWithOneLine(@TempDir Path tmp) throws Exception {
        byte[] valid = Files.readAllBytes(InteropFiles.path("resnet18_w4_cifar_mlp.pt"));
        int refused = 0;
        for (String kind : HostileCheckpoints.KINDS) {
            SplittableRandom r = new SplittableRandom(kind.hashCode());
            for (int i = 0; i < 3; i++) {
                Path f = tmp.resolve(kind + i + ".pth");
                Files.write(f, HostileCheckpoints.mutate(valid, kind, r));
                try {
                    TorchCheckpointReader.load(f);
                } catch (UserException e) {
                    refused++;
                    assertEquals(1, e.getMessage().lines().count(), e.getMessage());
                }
            }
        }
        assertTrue(refused >= 9, "truncations, deep nesting and .. names at least: " + refused);
    }

    @Test
    void damagedBytesQuotedInAMessageStayOneShortLine() throws Exception {
        // The 1,000-case bench found a bit flip that turned a pickle INT line into 10 KB of binary in the message.
        Path f = Files.createTempFile("bad-int", ".pth");
        try {
            byte[] valid = Files.readAllBytes(InteropFiles.path("resnet18_w4_cifar_mlp.pt"));
            byte[] bad = HostileCheckpoints.rewrite(valid, (name, data) -> name.endsWith("data.pkl")
                    ? ("I" + "1\r\u0001".repeat(300) + "\n.").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1) : data);
            Files.write(f, bad);
            UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(f));
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertTrue(e.getMessage().contains("bad integer literal"), e.getMessage());
            assertTrue(e.getMessage().length() < 400, e.getMessage());
        } finally {
            Files.deleteIfExists(f);
        }
    }
}
