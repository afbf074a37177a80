package io.moco4j.cli;

import static io.moco4j.cli.ImportExportCommandTest.assertBadInput;
import static io.moco4j.cli.ImportExportCommandTest.main;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.api.ImageEncoder;
import io.moco4j.api.OnnxEncoder;
import io.moco4j.api.TinyEncoders;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code moco4j export --format onnx}: what it writes and prints, and one-line errors for bad arguments. */
class OnnxExportCommandTest {
    @TempDir
    static Path tmp;
    static Path ckpt;

    @BeforeAll
    static void fixtures() throws Exception {
        ckpt = TinyEncoders.checkpoint(tmp, 4);
    }

    @Test
    void writesAModelOnnxRuntimeOpensAndSaysWhatItTakes() {
        Path out = tmp.resolve("out/encoder.onnx");
        ImportExportCommandTest.Run r = main("export", "--checkpoint", ckpt.toString(), "--format", "onnx", "--out",
                out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("ONNX opset 17"), r.out());
        assertTrue(r.out().contains("input  'images' float32 (N, 3, 32, 32), normalised RGB"), r.out());
        assertTrue(r.out().contains("output 'embeddings' float32 (N, 64)"), r.out());
        try (ImageEncoder enc = ImageEncoder.open(out)) {
            assertTrue(enc instanceof OnnxEncoder, enc.toString());
            assertEquals(64, enc.dimension());
        }

        Path head = tmp.resolve("head.onnx");
        r = main("export", "--checkpoint", ckpt.toString(), "--format", "ONNX", "--out", head.toString(),
                "--features", "head", "--normalize-in-graph");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("output 'embeddings' float32 (N, 8)"), r.out());
        assertTrue(r.out().contains("RGB scaled to [0, 1]"), r.out());
    }

    @Test
    void badArgumentsAreOneLineErrors() throws Exception {
        String c = ckpt.toString();
        Path out = tmp.resolve("bad.onnx");
        assertBadInput(main("export", "--checkpoint", c, "--format", "onnx", "--out", out.toString(), "--features", "neck"),
                "feature layer 'neck' is not known; use backbone or head");
        assertBadInput(main("export", "--checkpoint", c, "--format", "torchvision", "--out", tmp.resolve("x.pth").toString(),
                "--features", "head"), "apply to --format onnx only");
        assertBadInput(main("export", "--checkpoint", c, "--format", "onnx", "--out", out.toString(), "--encoder", "k"),
                "--encoder k is not available for --format onnx");
        assertBadInput(main("export", "--checkpoint", c, "--format", "onnx", "--out", tmp.resolve("model.bin").toString()),
                "should end in .onnx");
        assertBadInput(main("export", "--checkpoint", c, "--format", "onnx", "--out", out.toString(), "--image-size", "0"),
                "image size 0 is not valid");
        assertBadInput(main("export", "--checkpoint", tmp.resolve("missing.ckpt").toString(), "--format", "onnx", "--out",
                out.toString()), "missing.ckpt");
        assertBadInput(main("export", "--checkpoint", c, "--format", "tflite", "--out", out.toString()),
                "choose torchvision, moco, safetensors or onnx");
        assertFalse(Files.exists(out), "no model is written on bad input");
    }
}
