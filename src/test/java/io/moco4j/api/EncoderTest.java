package io.moco4j.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.cli.Main;
import io.moco4j.io.Npy;
import io.moco4j.util.UserException;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EncoderTest {
    @TempDir
    static Path tmp;
    static Path ckpt;
    static List<Path> files;

    @BeforeAll
    static void fixtures() throws Exception {
        ckpt = TinyEncoders.checkpoint(tmp, 3);
        files = TinyEncoders.sceneFolder(tmp.resolve("images"), 14, 5);
    }

    private static Encoder open() {
        return Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4));
    }

    @Test
    void apiEmbeddingsEqualTheEmbedCommandsRows() throws Exception {
        Path out = tmp.resolve("cli/emb.npy");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("images").toString(), "--out", out.toString(), "--device", "cpu", "--batch-size", "5");
        assertEquals(0, code, err.toString());
        Npy.NpyArray cli = Npy.read(out);
        List<String> index = Files.readAllLines(tmp.resolve("cli/emb.txt"));
        List<Path> order = index.stream().map(Path::of).toList();
        assertEquals(files.size(), order.size());
        try (Encoder enc = open()) {
            float[][] api = enc.embed(order);
            assertEquals(cli.shape()[1], enc.dimension());
            float[] flat = cli.toFloatArray();
            for (int i = 0; i < api.length; i++) {
                float[] row = java.util.Arrays.copyOfRange(flat, i * enc.dimension(), (i + 1) * enc.dimension());
                assertArrayEquals(row, api[i], 1e-5f, "row " + i + " (" + order.get(i) + ")");
            }
        }
    }

    @Test
    void singleImagesBufferedImagesAndBatchesAgree() throws Exception {
        try (Encoder enc = open()) {
            float[][] batch = enc.embed(files);
            for (int i : new int[] {0, 7, 13}) {
                assertArrayEquals(batch[i], enc.embed(files.get(i)), 1e-5f, "file " + i);
                BufferedImage img = ImageIO.read(files.get(i).toFile());
                assertArrayEquals(batch[i], enc.embed(img), 1e-5f, "BufferedImage " + i);
            }
            // Different images give different embeddings (the test would pass vacuously on a constant encoder).
            assertTrue(cosine(batch[0], batch[7]) < 0.99999, "distinct images must not embed identically");
            assertEquals(64, enc.dimension(), "ResNet-18 x0.125 pools 64 features");
        }
    }

    @Test
    void headLayerAndOtherImageSizes() throws Exception {
        try (Encoder head = Encoder.load(ckpt, Encoder.Options.defaults().withDevice("cpu")
                .withLayer(io.moco4j.eval.FeatureLayer.HEAD))) {
            assertEquals(8, head.dimension());
            // A 48x40 image is resized and centre-cropped to the 32 px the checkpoint was trained at.
            BufferedImage big = new BufferedImage(48, 40, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 40; y++) {
                for (int x = 0; x < 48; x++) {
                    big.setRGB(x, y, (x * 5) << 16 | (y * 6) << 8 | 90);
                }
            }
            assertEquals(8, head.embed(big).length);
        }
    }

    @Test
    void manyCallsLeaveNoLiveArrays() {
        try (Encoder enc = open()) {
            enc.embed(files.subList(0, 3)); // warm up (lazily created engine state)
            int before = enc.manager().getManagedArrays().size();
            for (int i = 0; i < 40; i++) {
                enc.embed(files.get(i % files.size()));
                enc.embed(files.subList(0, 6));
            }
            assertEquals(before, enc.manager().getManagedArrays().size(), "live NDArrays in the encoder's manager");
        }
    }

    @Test
    void concurrentCallsGiveTheSequentialResults() throws Exception {
        try (Encoder enc = open()) {
            float[][] sequential = enc.embed(files);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[][]>> runs = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int shift = t;
                    runs.add(pool.submit(() -> {
                        float[][] out = new float[files.size()][];
                        for (int j = 0; j < files.size(); j++) {
                            int i = (j + shift) % files.size();
                            out[i] = enc.embed(files.get(i));
                        }
                        return out;
                    }));
                }
                for (Future<float[][]> run : runs) {
                    float[][] got = run.get();
                    for (int i = 0; i < files.size(); i++) {
                        assertArrayEquals(sequential[i], got[i], 1e-5f, "image " + i);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void importedTorchvisionFileEmbedsAsTheCheckpoint() throws Exception {
        Path pth = tmp.resolve("tv.pth");
        StringWriter err = new StringWriter();
        assertEquals(0, Main.run(new PrintWriter(err, true), "export", "--checkpoint", ckpt.toString(), "--format", "torchvision",
                "--out", pth.toString()), err.toString());
        try (Encoder a = open(); Encoder b = Encoder.load(pth, Encoder.Options.defaults().withDevice("cpu").withImageSize(32))) {
            // A torchvision file does not record the training size; ImageNet-sized presets would say 224.
            assertTrue(b.description().contains("tv.pth"), b.description());
            assertArrayEquals(a.embed(files.get(2)), b.embed(files.get(2)), 1e-5f);
        }
    }

    @Test
    void badInputsAreOneLineUserErrors() throws Exception {
        assertThrows(UserException.class, () -> Encoder.load(tmp.resolve("missing.ckpt")));
        Path notImage = tmp.resolve("notes.png");
        Files.writeString(notImage, "not an image");
        try (Encoder enc = open()) {
            UserException e = assertThrows(UserException.class, () -> enc.embed(notImage));
            assertTrue(e.getMessage().contains("notes.png"), e.getMessage());
        }
        Encoder closed = open();
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.embed(files.get(0)));
    }

    static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }
}
