package io.moco4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.cli.Main;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.util.UserException;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link OnnxEncoder} on a model written by {@code ./moco4j export --format onnx} gives the embeddings {@link Encoder}
 * gives on the checkpoint (same decoding, preprocessing and features), also in a JVM without DJL on its class path.
 * Tolerance: {@code io.moco4j.onnx.OnnxParityTest#TOLERANCE} (1e-5 of the largest magnitude), measured there.
 */
class OnnxEncoderTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    static Path tmp;
    static Path ckpt;
    static List<Path> files;

    @BeforeAll
    static void fixtures() throws Exception {
        ckpt = TinyEncoders.checkpoint(tmp, 3);
        files = TinyEncoders.sceneFolder(tmp.resolve("images"), 9, 5);
    }

    static Path export(String name, String... extra) {
        Path out = tmp.resolve(name);
        List<String> args = new ArrayList<>(List.of("export", "--checkpoint", ckpt.toString(), "--format", "onnx",
                "--out", out.toString()));
        args.addAll(List.of(extra));
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        return out;
    }

    static Encoder.Options cpu() {
        return Encoder.Options.defaults().withDevice("cpu");
    }

    @Test
    void onnxFileEmbedsAsTheCheckpointForBothLayersAndOtherImageSizes() throws Exception {
        List<BufferedImage> odd = List.of(picture(48, 40, 1), picture(20, 33, 2), picture(32, 32, 3));
        for (FeatureLayer layer : FeatureLayer.values()) {
            Path onnx = export("tiny-" + layer.id() + ".onnx", "--features", layer.id());
            try (Encoder torch = Encoder.load(ckpt, cpu().withLayer(layer));
                 ImageEncoder ort = ImageEncoder.open(onnx, cpu().withLayer(layer).withBatchSize(4))) {
                assertInstanceOf(OnnxEncoder.class, ort);
                assertEquals(torch.dimension(), ort.dimension());
                assertEquals(layer == FeatureLayer.HEAD ? 8 : 64, ort.dimension(), "x0.125 ResNet-18: 64 pooled, 8 head");
                assertEquals(32, ort.imageSize());
                assertEquals(layer, ort.layer());
                assertClose(torch.embed(files), ort.embed(files), layer + " files");
                assertClose(torch.embedImages(odd), ort.embedImages(odd), layer + " resized images");
                float[][] rows = ort.embed(files);
                assertFalse(Arrays.equals(rows[0], rows[1]), "distinct images embed differently");
            }
        }
    }

    @Test
    void normalizationInsideTheGraphGivesTheSameEmbeddings() throws Exception {
        Path plain = export("plain.onnx");
        Path inGraph = export("in-graph.onnx", "--normalize-in-graph");
        try (ImageEncoder a = ImageEncoder.open(plain); ImageEncoder b = ImageEncoder.open(inGraph)) {
            assertClose(a.embed(files), b.embed(files), "normalised in the graph");
        }
        // ...and the in-graph model does normalise: the raw v/255 input through the plain model is something else
        try (OnnxEncoder a = OnnxEncoder.load(plain); OnnxEncoder b = OnnxEncoder.load(inGraph)) {
            float[] unit = new float[3 * 32 * 32];
            Arrays.fill(unit, 0.5f);
            float[] d = diff(a.forward(unit, 1)[0], b.forward(unit, 1)[0]);
            assertTrue(max(d) > 1e-2, "the two models must differ on the same raw input");
        }
    }

    /** A service with only ONNX Runtime (no DJL, no libtorch) on its class path embeds as the libtorch encoder. */
    @Test
    void embedsInAJvmWithoutDjl() throws Exception {
        Path onnx = export("service.onnx");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        // exactly the class path the README gives a service: MoCo4J's classes, ONNX Runtime, Jackson + SnakeYAML
        // (the preprocessing recipes are YAML) and TwelveMonkeys (the image decoders the libtorch path uses too)
        List<String> service = List.of("/com/microsoft/onnxruntime/", "/com/fasterxml/jackson/", "/org/yaml/snakeyaml/",
                "/com/twelvemonkeys/");
        String withoutDjl = Arrays.stream(cp.split(File.pathSeparator))
                .filter(e -> new File(e).isDirectory() || service.stream().anyMatch(e::contains))
                .collect(Collectors.joining(File.pathSeparator));
        assertTrue(cp.contains("/ai/djl/") && !withoutDjl.contains("/ai/djl/"), "DJL must be on the test class path only: " + cp);
        Path out = tmp.resolve("service-rows.txt");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.awt.headless=true", "-cp", withoutDjl, OnnxOnlyMain.class.getName(), onnx.toString(), out.toString()));
        files.forEach(f -> cmd.add(f.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child JVM did not finish");
        assertEquals(0, p.exitValue(), log);
        List<String> lines = Files.readAllLines(out);
        float[][] rows = new float[lines.size()][];
        for (int i = 0; i < rows.length; i++) {
            String[] parts = lines.get(i).split(" ");
            rows[i] = new float[parts.length];
            for (int j = 0; j < parts.length; j++) {
                rows[i][j] = Float.parseFloat(parts[j]);
            }
        }
        try (Encoder torch = Encoder.load(ckpt, cpu())) {
            assertClose(torch.embed(files), rows, "child JVM without DJL");
        }
    }

    @Test
    void badFilesAndMismatchedOptionsAreOneLineUserErrors() throws Exception {
        Path garbage = tmp.resolve("garbage.onnx");
        Files.write(garbage, "not a protobuf".getBytes(StandardCharsets.UTF_8));
        assertOneLine(assertThrows(UserException.class, () -> ImageEncoder.open(garbage)), "ONNX Runtime cannot load");
        assertOneLine(assertThrows(UserException.class, () -> ImageEncoder.open(tmp.resolve("missing.onnx"))), "does not exist");
        Path backbone = export("backbone.onnx");
        assertOneLine(assertThrows(UserException.class, () -> Encoder.load(backbone)), "ONNX model");
        assertOneLine(assertThrows(UserException.class,
                () -> OnnxEncoder.load(backbone, cpu().withLayer(FeatureLayer.HEAD))), "--features backbone");
        assertOneLine(assertThrows(UserException.class,
                () -> OnnxEncoder.load(backbone, cpu().withImageSize(64))), "32-px");
        assertOneLine(assertThrows(UserException.class,
                () -> OnnxEncoder.load(backbone, cpu().withDevice("gpu"))), "--device cpu");
        try (ImageEncoder enc = ImageEncoder.open(backbone)) {
            Path notImage = tmp.resolve("not-an-image.png");
            Files.writeString(notImage, "hello");
            assertOneLine(assertThrows(UserException.class, () -> enc.embed(notImage)), "not-an-image.png");
        }
    }

    static void assertOneLine(UserException e, String part) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    static void assertClose(float[][] expected, float[][] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        double scale = 1;
        for (float[] r : expected) {
            scale = Math.max(scale, max(r));
        }
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i].length, actual[i].length, what);
            worst = Math.max(worst, max(diff(expected[i], actual[i])));
        }
        assertTrue(worst <= TOLERANCE * scale, what + ": max |ONNX - libtorch| " + worst + " > " + TOLERANCE + " x " + scale);
    }

    static float[] diff(float[] a, float[] b) {
        float[] d = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = Math.abs(a[i] - b[i]);
        }
        return d;
    }

    static double max(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static BufferedImage picture(int w, int h, int seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(new Color(40 * seed, 200 - 30 * seed, 90));
        g.fillRect(0, 0, w, h);
        g.setColor(new Color(250, 20 * seed, 10));
        g.fillOval(w / 4, h / 5, w / 2, h / 2);
        g.dispose();
        return img;
    }
}
