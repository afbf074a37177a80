package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.interop.MocoCheckpointLayout;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Safetensors;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.train.Checkpoints;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code moco4j import} and {@code moco4j export} through {@link Main#run}: exit codes and what the user reads. */
class ImportExportCommandTest {

    record Run(int code, String out, String err) {}

    static Run main(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static String golden(String name) {
        try {
            return Path.of(ImportExportCommandTest.class.getResource("/golden/" + name).toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Exit code 2 and exactly one line on stderr, "error: ..." containing {@code part}. */
    static void assertBadInput(Run r, String part) {
        assertEquals(2, r.code(), r.toString());
        String[] lines = r.err().strip().split("\n");
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].startsWith("error: ") && lines[0].contains(part), r.err());
    }

    @Test
    void importThenResumeRefusalAndExport(@TempDir Path tmp) {
        String ckpt = tmp.resolve("moco.ckpt").toString();
        Run imported = main("import", "--from", golden("moco_official/moco_v1_trained.pth.tar"), "--out", ckpt,
                "--set", "train.batch_size=4", "--set", "moco.bn_splits=2");
        assertEquals(0, imported.code(), imported.toString());
        assertTrue(imported.out().contains("official MoCo checkpoint (main_moco.py layout), arch resnet18, epoch 3"), imported.out());
        assertTrue(imported.out().contains("queue K=16, queue_ptr 12"), imported.out());
        assertTrue(imported.out().contains("62 momentum buffers mapped onto encoder_q parameters"), imported.out());
        assertTrue(imported.out().contains("Assumed from preset moco-v1 (PyTorch checkpoints do not store them): moco.momentum=0.999"),
                imported.out());
        assertEquals("", imported.err());

        for (String format : new String[] {"torchvision", "moco", "safetensors"}) {
            Run exported = main("export", "--checkpoint", ckpt, "--format", format, "--out", tmp.resolve("out." + format).toString());
            assertEquals(0, exported.code(), exported.toString());
            assertTrue(exported.out().startsWith("Wrote "), exported.out());
        }

        // A torchvision file becomes an encoder-only run directory, which pretrain --resume refuses in one line.
        Path run = tmp.resolve("run");
        Run encoder = main("import", "--from", golden("interop/resnet18_w4_cifar_mlp.pt"), "--out", run.toString());
        assertEquals(0, encoder.code(), encoder.toString());
        assertTrue(Files.exists(run.resolve("checkpoints/last.ckpt")));
        assertTrue(encoder.out().contains("encoder-only"), encoder.out());
        assertBadInput(main("pretrain", "--out", run.toString(), "--resume", "--device", "cpu"),
                "holds only an encoder (no key encoder, queue or optimizer state), so pretraining cannot resume from it");
        assertBadInput(main("export", "--checkpoint", run.resolve("checkpoints/last.ckpt").toString(), "--format", "moco",
                "--out", tmp.resolve("x.pth").toString()), "export it with --format torchvision or safetensors");
    }

    @Test
    void badInputExitsWithTwoAndOneLine(@TempDir Path tmp) throws Exception {
        String out = tmp.resolve("o.ckpt").toString();
        assertBadInput(main("import", "--from", tmp.resolve("nope.pth").toString(), "--out", out), "nope.pth: no such file");
        assertBadInput(main("import", "--from", golden("interop/evil_system_zip.pt"), "--out", out),
                "refusing to load the Python global 'posix.system'");
        assertBadInput(main("import", "--from", golden("interop/evil_eval_legacy.pth.tar"), "--out", out), "refusing to load");

        // Tensors, but not a ResNet: an unknown layout.
        Path vit = tmp.resolve("vit.safetensors");
        Safetensors.write(vit, Map.of("patch_embed.proj.weight", HostTensor.ofFloats(new float[12], 3, 4)), Map.of());
        assertBadInput(main("import", "--from", vit.toString(), "--out", out), "unrecognised checkpoint layout");

        // A torchvision ResNet with an extra module: keys a ResNet does not have.
        LinkedHashMap<String, HostTensor> sd = MocoCheckpointLayout.stateDict(
                TorchCheckpointReader.load(Path.of(golden("interop/resnet18_w4_cifar_mlp.pt"))));
        sd.put("attention.weight", HostTensor.ofFloats(new float[4], 2, 2));
        Path extra = tmp.resolve("extra.safetensors");
        Safetensors.write(extra, sd, Map.of());
        assertBadInput(main("import", "--from", extra.toString(), "--out", out), "unexpected [attention.weight]");

        // Truncated and foreign files.
        byte[] good = Files.readAllBytes(Path.of(golden("interop/resnet18_w4_cifar_mlp.pt")));
        Path truncated = Files.write(tmp.resolve("truncated.pt"), java.util.Arrays.copyOf(good, good.length / 2));
        assertBadInput(main("import", "--from", truncated.toString(), "--out", out), "truncated.pt");
        Path text = Files.writeString(tmp.resolve("notes.txt"), "hello, not a checkpoint");
        assertBadInput(main("import", "--from", text.toString(), "--out", out), "not a PyTorch checkpoint");
        assertBadInput(main("export", "--checkpoint", text.toString(), "--format", "torchvision", "--out", tmp.resolve("a.pth").toString()),
                "not a MoCo4J checkpoint");
        assertBadInput(main("export", "--checkpoint", tmp.resolve("none.ckpt").toString(), "--format", "moco",
                "--out", tmp.resolve("a.pth").toString()), "does not exist");
        assertBadInput(main("export", "--checkpoint", out, "--format", "tflite", "--out", tmp.resolve("a.tflite").toString()),
                "choose torchvision, moco, safetensors or onnx");
        assertFalse(Files.exists(Path.of(out)), "nothing written on failure");

        // An existing target is never overwritten.
        Path existing = Files.writeString(tmp.resolve("keep.ckpt"), "precious");
        assertBadInput(main("import", "--from", golden("interop/resnet18_w4_cifar_mlp.pt"), "--out", existing.toString()),
                "already exists");
        assertEquals("precious", Files.readString(existing));
    }

    @Test
    void encoderOnlyCheckpointIsMarkedInItsMetadata(@TempDir Path tmp) {
        Path out = tmp.resolve("tv.ckpt");
        assertEquals(0, main("import", "--from", golden("interop/torchvision_r50_narrow.pth"), "--out", out.toString()).code());
        Checkpoints.Loaded ckpt = Checkpoints.load(out);
        assertEquals(Checkpoints.Kind.ENCODER, ckpt.kind());
        assertTrue(ckpt.contents().metaJson().contains("\"kind\":\"encoder\""), ckpt.contents().metaJson());
        assertEquals("resnet50", ckpt.config().model().arch());
    }
}
