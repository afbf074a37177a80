package io.moco4j.interop;

import io.moco4j.testutil.ToleranceReport;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.Safetensors;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.method.Encoders;
import io.moco4j.model.Encoder;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.testutil.Golden;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.Pretraining;
import io.moco4j.train.PretrainingTest;
import io.moco4j.train.TrainingData;
import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Import of PyTorch checkpoints into MoCo4J checkpoints, resuming from them, and export back, checked against
 * PyTorch goldens: tools/golden/moco_official.py (an official-layout MoCo v1 checkpoint after three SGD steps,
 * with its encoders' eval outputs and some momentum buffers looked up by parameter name) and tools/golden/interop.py.
 */
class CheckpointInteropTest {
    static final String TRAINED = "moco_official/moco_v1_trained.pth.tar";
    /** The golden queue holds 16 keys, so the batch must divide 16; two BN groups of two. */
    static final Map<String, String> SMALL = Map.of("train.batch_size", "4", "moco.bn_splits", "2");

    static Path golden(String name) {
        try {
            return Path.of(CheckpointInteropTest.class.getResource("/golden/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing golden file " + name + "; run tools/golden/regenerate.sh", e);
        }
    }

    static CheckpointImport.Result importFile(Path from, Path out, Map<String, String> overrides) {
        return CheckpointImport.run(new CheckpointImport.Request(from, out, null, overrides));
    }

    @Test
    void officialCheckpointImportsCompletelyAndGivesPyTorchOutputs(@TempDir Path tmp) {
        JsonNode info = Golden.json("moco_official/moco_v1_trained.json");
        Map<String, NpyArray> want = Golden.npz("moco_official/moco_v1_trained_expected.npz");
        CheckpointImport.Result r = importFile(golden(TRAINED), tmp.resolve("imported.ckpt"), SMALL);
        assertEquals(tmp.resolve("imported.ckpt"), r.checkpoint());
        assertEquals(Checkpoints.Kind.PRETRAINING, r.kind());

        Checkpoints.Loaded ckpt = Checkpoints.load(r.checkpoint());
        assertEquals(Checkpoints.Kind.PRETRAINING, ckpt.kind());
        assertEquals(info.get("epoch").asInt(), ckpt.progress().epoch());
        assertEquals(0, ckpt.progress().stepInEpoch());
        assertEquals(info.get("queue_ptr").asInt(), ckpt.queuePointer());
        assertEquals(want.get("queue_ptr").toLongArray()[0], ckpt.queuePointer());

        MocoConfig cfg = ckpt.config();
        assertEquals("resnet18", cfg.model().arch());
        assertFalse(cfg.model().cifarStem());
        assertEquals(info.get("base_width").asDouble() / 64, cfg.model().width());
        assertEquals("linear", cfg.model().head());
        assertEquals(info.get("dim").asInt(), cfg.model().dim());
        assertEquals(info.get("K").asInt(), cfg.moco().queueSize());
        assertEquals(info.get("momentum").asDouble(), cfg.optim().momentum(), "SGD momentum read from the file");
        assertEquals(info.get("weight_decay").asDouble(), cfg.optim().weightDecay(), "weight decay read from the file");
        assertEquals(4, cfg.train().batchSize());

        // The queue is stored as (K, dim): row j is the official queue's column j.
        NpyArray queue = ckpt.contents().tensor("queue");
        NpyArray official = want.get("queue");
        int dim = info.get("dim").asInt();
        int k = info.get("K").asInt();
        assertArrayEquals(new long[] {k, dim}, queue.shape());
        assertArrayEquals(new long[] {dim, k}, official.shape());
        float[] rows = queue.toFloatArray();
        float[] cols = official.toFloatArray();
        for (int j = 0; j < k; j++) {
            for (int d = 0; d < dim; d++) {
                assertEquals(cols[d * k + j], rows[j * dim + d], "queue key " + j + " component " + d);
            }
        }

        // Weights, BN buffers and momentum buffers equal the file's, bit for bit.
        for (String name : List.of("conv1.weight", "fc.weight", "layer4.1.bn2.running_var")) {
            assertArrayEquals(want.get("q." + name).toFloatArray(), ckpt.contents().tensor("encoder_q." + name).toFloatArray(), name);
            assertArrayEquals(want.get("k." + name).toFloatArray(), ckpt.contents().tensor("encoder_k." + name).toFloatArray(), name);
        }
        long buffers = ckpt.contents().tensors().keySet().stream().filter(n -> n.startsWith("optimizer.")).count();
        assertEquals(info.get("momentum_buffers").asLong(), buffers);
        for (String name : List.of("conv1.weight", "fc.bias", "layer3.0.downsample.1.weight", "layer4.1.bn2.weight")) {
            assertArrayEquals(want.get("momentum." + name).toFloatArray(), ckpt.contents().tensor("optimizer." + name).toFloatArray(),
                    "momentum buffer of " + name);
        }

        // Networks built from the imported config give PyTorch's eval outputs.
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             Encoder q = Encoders.create(cfg, m, 1);
             Encoder key = Encoders.create(cfg, m, 2)) {
            q.loadStateDict(ckpt.queryEncoder(m), true);
            key.loadStateDict(ckpt.tensors("encoder_k.", m), true);
            NpyArray x = want.get("input");
            NDArray input = m.create(x.toFloatArray(), new Shape(x.shape()));
            assertClose(want.get("output_q").toFloatArray(), q.forward(input, false).toFloatArray(), "encoder_q output");
            assertClose(want.get("output_k").toFloatArray(), key.forward(input, false).toFloatArray(), "encoder_k output");
        }
        assertTrue(String.join("\n", r.lines()).contains("Assumed from preset moco-v1"), String.join("\n", r.lines()));
    }

    @Test
    void resumeFromAnImportedCheckpointTrains(@TempDir Path tmp) throws Exception {
        Map<String, String> sets = new LinkedHashMap<>(SMALL);
        sets.putAll(Map.of("train.image_size", "32", "train.augment", "cifar", "data.generated_train", "8",
                "data.generated_val", "4", "train.workers", "1", "train.knn_every", "0", "train.log_every", "1"));
        Path run = tmp.resolve("run");
        CheckpointImport.Result r = importFile(golden(TRAINED), run, sets);
        assertEquals(run.resolve("checkpoints/last.ckpt"), r.checkpoint());
        assertEquals(run, r.runDirectory());
        Checkpoints.Loaded before = Checkpoints.load(r.checkpoint());

        MocoConfig cfg = Pretraining.resumedConfig(before.config(), Map.of("train.epochs", "4"));
        Pretraining.Outcome out = PretrainingTest.run(run, cfg, true, Long.MAX_VALUE, TrainingData.open(cfg));
        assertEquals(Pretraining.Status.COMPLETED, out.status());
        assertEquals(2, out.progress().globalStep(), "one epoch of 8 images in batches of 4");
        assertTrue(Float.isFinite(out.lastLoss()));

        Checkpoints.Loaded after = Checkpoints.load(r.checkpoint());
        assertEquals(4, after.progress().epoch());
        assertEquals((before.queuePointer() + 2 * 4) % 16, after.queuePointer(), "two batches of 4 keys enqueued");
        float[] q0 = before.contents().tensor("encoder_q.conv1.weight").toFloatArray();
        float[] q1 = after.contents().tensor("encoder_q.conv1.weight").toFloatArray();
        assertFalse(java.util.Arrays.equals(q0, q1), "the query encoder was trained");
        // Rows the two steps did not overwrite (the pointer went 12 -> 0 -> 4) keep their imported keys.
        float[] k0 = before.contents().tensor("queue").toFloatArray();
        float[] k1 = after.contents().tensor("queue").toFloatArray();
        int dim = before.config().model().dim();
        for (int row = 4; row < 12; row++) {
            for (int d = 0; d < dim; d++) {
                assertEquals(k0[row * dim + d], k1[row * dim + d], "untouched queue row " + row);
            }
        }
        assertNotEquals(k0[12 * dim], k1[12 * dim], "row 12 was overwritten by the first step");
    }

    @Test
    void encoderOnlyImportIsRefusedByResume(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        CheckpointImport.Result r = importFile(golden("interop/resnet18_w4_cifar_mlp.pt"), run, Map.of());
        assertEquals(Checkpoints.Kind.ENCODER, r.kind());
        Checkpoints.Loaded ckpt = Checkpoints.load(r.checkpoint());
        assertEquals(Checkpoints.Kind.ENCODER, ckpt.kind());
        assertTrue(ckpt.contents().tensors().keySet().stream().allMatch(k -> k.startsWith("encoder_q.")));
        UserException e = assertThrows(UserException.class, () -> PretrainingTest.run(run, ckpt.config(), true, 1,
                TrainingData.open(ckpt.config())));
        assertTrue(e.getMessage().contains("holds only an encoder") && e.getMessage().contains("cannot resume"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void torchvisionImportGivesThePyTorchOutput(@TempDir Path tmp) {
        Map<String, NpyArray> io = Golden.npz("interop/resnet18_w4_cifar_mlp_io.npz");
        CheckpointImport.Result r = importFile(golden("interop/resnet18_w4_cifar_mlp.pt"), tmp.resolve("w4.ckpt"), Map.of());
        Checkpoints.Loaded ckpt = Checkpoints.load(r.checkpoint());
        MocoConfig.Model model = ckpt.config().model();
        assertTrue(model.cifarStem());
        assertEquals(4 / 64.0, model.width());
        assertEquals("mlp", model.head());
        assertEquals(8, model.dim());
        assertEquals(0, ckpt.progress().epoch());
        try (NDManager m = NDManager.newBaseManager(Device.cpu()); ResNet net = ResNet.create(ckpt.encoderSpec(), m, 3)) {
            net.loadStateDict(ckpt.queryEncoder(m), true);
            NpyArray x = io.get("input");
            NDArray y = net.forward(m.create(x.toFloatArray(), new Shape(x.shape())), false);
            float[] want = io.get("output").toFloatArray();
            float[] got = y.toFloatArray();
            double worst = 0;
            for (int i = 0; i < Math.min(want.length, got.length); i++) {
                worst = Math.max(worst, Math.abs((double) got[i] - want[i]));
            }
            ToleranceReport.print("interop imported resnet output (abs)", worst, 1e-4);
            assertArrayEquals(io.get("output").toFloatArray(), y.toFloatArray(), 1e-4f);
        }
    }

    @Test
    void linclsImportsAsEncoderWithItsClassifier(@TempDir Path tmp) {
        Path from = golden("interop/lincls_official.pth.tar");
        CheckpointImport.Result r = importFile(from, tmp.resolve("lin.ckpt"), Map.of());
        Checkpoints.Loaded ckpt = Checkpoints.load(r.checkpoint());
        assertEquals(Checkpoints.Kind.ENCODER, ckpt.kind());
        assertEquals(100, ckpt.progress().epoch());
        assertEquals(10, ckpt.config().model().dim());
        Map<String, HostTensor> sd = MocoCheckpointLayout.stateDict(TorchCheckpointReader.load(from));
        assertEquals(sd.size(), ckpt.contents().tensors().size());
        sd.forEach((k, v) -> assertArrayEquals(v.toFloatArray(),
                ckpt.contents().tensor("encoder_q." + k.substring("module.".length())).toFloatArray(), k));
    }

    @Test
    void exportsReimportToIdenticalTensors(@TempDir Path tmp) throws Exception {
        Path exportDir = System.getProperty("moco4j.interop.exportDir") != null
                ? Files.createDirectories(Path.of(System.getProperty("moco4j.interop.exportDir"))) : tmp;
        Path imported = tmp.resolve("imported.ckpt");
        importFile(golden(TRAINED), imported, SMALL);
        Checkpoints.Loaded original = Checkpoints.load(imported);

        // moco: everything comes back, optimizer state included.
        Path moco = exportDir.resolve("export.moco");
        CheckpointExport.run(new CheckpointExport.Request(imported, CheckpointExport.Format.MOCO, moco, null));
        Checkpoints.Loaded again = Checkpoints.load(importFile(moco, tmp.resolve("again.ckpt"), SMALL).checkpoint());
        assertEquals(Checkpoints.Kind.PRETRAINING, again.kind());
        assertSameTensors(original.contents().tensors(), again.contents().tensors(), "");
        assertEquals(original.queuePointer(), again.queuePointer());
        assertEquals(original.progress().epoch(), again.progress().epoch());

        // torchvision: the backbone only; re-imported as an encoder without head.
        Path tv = exportDir.resolve("export.pth");
        CheckpointExport.Result tvResult = CheckpointExport.run(new CheckpointExport.Request(imported, CheckpointExport.Format.TORCHVISION, tv, null));
        assertTrue(tvResult.lines().get(1).startsWith("Dropped fc.weight, fc.bias"), tvResult.lines().toString());
        Checkpoints.Loaded backbone = Checkpoints.load(importFile(tv, tmp.resolve("tv.ckpt"), Map.of()).checkpoint());
        assertEquals(Checkpoints.Kind.ENCODER, backbone.kind());
        assertEquals(HeadSpec.Kind.NONE, backbone.encoderSpec().head().kind());
        Map<String, NpyArray> qNoHead = prefixed(original.contents().tensors(), "encoder_q.");
        qNoHead.keySet().removeIf(k -> k.startsWith("encoder_q.fc."));
        assertSameTensors(qNoHead, backbone.contents().tensors(), "");
        try (NDManager m = NDManager.newBaseManager(Device.cpu()); ResNet net = ResNet.create(backbone.encoderSpec(), m, 0)) {
            net.loadStateDict(backbone.queryEncoder(m), true); // every tensor has its place and nothing is missing
        }

        // safetensors: the full encoder with its head, q or k, and the epoch in the metadata.
        Path st = exportDir.resolve("export.safetensors");
        CheckpointExport.run(new CheckpointExport.Request(imported, CheckpointExport.Format.SAFETENSORS, st, null));
        assertEquals("resnet18", Safetensors.read(st).metadata().get("arch"));
        Checkpoints.Loaded q = Checkpoints.load(importFile(st, tmp.resolve("st.ckpt"), Map.of()).checkpoint());
        assertSameTensors(prefixed(original.contents().tensors(), "encoder_q."), q.contents().tensors(), "");
        assertEquals(original.progress().epoch(), q.progress().epoch());
        Path stK = tmp.resolve("k.safetensors");
        CheckpointExport.run(new CheckpointExport.Request(imported, CheckpointExport.Format.SAFETENSORS, stK, "k"));
        Checkpoints.Loaded k = Checkpoints.load(importFile(stK, tmp.resolve("stk.ckpt"), Map.of()).checkpoint());
        Map<String, NpyArray> keyEncoder = new LinkedHashMap<>();
        prefixed(original.contents().tensors(), "encoder_k.").forEach((name, t) -> keyEncoder.put("encoder_q." + name.substring(10), t));
        assertSameTensors(keyEncoder, k.contents().tensors(), "");
    }

    @Test
    void mocoLayoutSafetensorsImportsAsPretrainingCheckpoint(@TempDir Path tmp) {
        // The official golden renamed to MoCo4J keys (queue as K x dim) and saved as safetensors.
        Path from = golden("interop/moco_official_legacy.pth.tar");
        LinkedHashMap<String, HostTensor> internal = MocoCheckpointLayout.officialToInternal(
                MocoCheckpointLayout.stateDict(TorchCheckpointReader.load(from)));
        Path st = tmp.resolve("internal.safetensors");
        Safetensors.write(st, internal, Map.of("epoch", "200"));
        Checkpoints.Loaded viaSafetensors = Checkpoints.load(importFile(st, tmp.resolve("a.ckpt"), SMALL).checkpoint());
        Checkpoints.Loaded viaTorch = Checkpoints.load(importFile(from, tmp.resolve("b.ckpt"), SMALL).checkpoint());
        assertEquals(Checkpoints.Kind.PRETRAINING, viaSafetensors.kind());
        assertSameTensors(viaTorch.contents().tensors(), viaSafetensors.contents().tensors(), "");
        assertEquals(4, viaSafetensors.queuePointer());
        assertEquals(200, viaSafetensors.progress().epoch());
        assertEquals("mlp", viaSafetensors.config().model().head());
        assertEquals(0.2, viaSafetensors.config().moco().temperature(), "MLP head: temperature from the moco-v2 preset");
    }

    @Test
    void badInputsAreOneLineUserErrors(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("x.ckpt");
        assertUserError(() -> importFile(tmp.resolve("missing.pth"), out, Map.of()), "no such file");
        assertUserError(() -> importFile(golden("interop/evil_system_zip.pt"), out, Map.of()), "refusing to load the Python global 'posix.system'");
        assertUserError(() -> importFile(golden(TRAINED), out, Map.of()), "pass --set train.batch_size=B with B dividing 16");
        assertUserError(() -> importFile(golden(TRAINED), out, Map.of("model.width", "1")), "read from the file");
        Path garbage = Files.write(tmp.resolve("garbage.pth"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        assertUserError(() -> importFile(garbage, out, Map.of()), "not a PyTorch checkpoint");
        assertUserError(() -> CheckpointExport.run(new CheckpointExport.Request(garbage, CheckpointExport.Format.MOCO, tmp.resolve("y"), null)),
                "not a MoCo4J checkpoint");
        assertFalse(Files.exists(out));
    }

    /** Equal up to float32 rounding of a different summation order: 1e-5 relative (the outputs reach 1e4). */
    static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            worst = Math.max(worst, Math.abs((double) got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
        }
        ToleranceReport.print("interop " + what, worst, 1e-5);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 * Math.max(1, Math.abs(want[i])), what + " [" + i + "]");
        }
    }

    static void assertUserError(org.junit.jupiter.api.function.Executable call, String part) {
        UserException e = assertThrows(UserException.class, call);
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    static Map<String, NpyArray> prefixed(Map<String, NpyArray> all, String prefix) {
        Map<String, NpyArray> out = new LinkedHashMap<>();
        all.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k, v);
            }
        });
        return out;
    }

    static void assertSameTensors(Map<String, NpyArray> want, Map<String, NpyArray> got, String what) {
        assertEquals(want.keySet(), got.keySet(), what);
        want.forEach((k, v) -> {
            NpyArray g = got.get(k);
            assertEquals(v.dtype(), g.dtype(), k);
            assertArrayEquals(v.shape(), g.shape(), k);
            assertEquals(v.data(), g.data(), k);
        });
    }
}
