package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.InteropFiles;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.MomentumContrast;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.Pretraining;
import io.moco4j.train.StopSignal;
import io.moco4j.train.TrainingData;
import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pretrain --init-from} for every kind of file (issue 18): the backbone of both encoders equals the file's, the
 * head (and v3 predictor) is the file's only where its shapes are the run's, the queue and optimizer are the new run's,
 * the provenance is in the metadata, and files that are not models fail in one line. The files are the small
 * PyTorch-written goldens the import tests use, and MoCo4J files made here.
 */
class InitFromFileTest {
    private static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

    /** cpu-small shrunk to test size; the architecture keys are replaced by the file's. */
    private static MocoConfig small(String... sets) {
        ConfigLoader l = ConfigLoader.defaults().preset("cpu-small").set("moco.queue_size=16").set("train.batch_size=4")
                .set("moco.bn_splits=2").set("train.epochs=2").set("data.generated_train=16").set("data.generated_val=8")
                .set("train.workers=1").set("train.knn_every=1").set("train.knn_k=3").set("train.log_every=1");
        for (String s : sets) {
            l.set(s);
        }
        return l.build();
    }

    private static MocoConfig preset(String name) {
        return ConfigLoader.defaults().preset(name).build();
    }

    /** The model a run with these weights starts with (as Pretraining builds it: fresh from the seed, then the file's). */
    private static MomentumContrast started(InitFromFile w, MocoConfig cfg, NDManager m, List<String> lines) {
        MomentumContrast moco = MethodFactory.fresh(cfg, m);
        lines.addAll(w.apply(moco, cfg));
        return moco;
    }

    private static Map<String, HostTensor> under(Map<String, HostTensor> sd, String prefix) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    /** Every tensor of {@code want} (key names inside the encoder) has the same values in {@code net}'s state. */
    private static void assertHas(Map<String, HostTensor> want, Map<String, NDArray> net, String what) {
        assertFalse(want.isEmpty(), what);
        for (Map.Entry<String, HostTensor> e : want.entrySet()) {
            NDArray got = net.get(e.getKey());
            assertNotNull(got, what + ": no " + e.getKey());
            if (e.getValue().dtype().isFloating()) {
                assertArrayEquals(e.getValue().toFloatArray(), got.toFloatArray(), what + " " + e.getKey());
            } else {
                assertArrayEquals(e.getValue().toLongArray(), got.toLongArray(), what + " " + e.getKey());
            }
        }
    }

    private static Map<String, HostTensor> withoutHead(Map<String, HostTensor> encoder, String headPrefix) {
        Map<String, HostTensor> out = new LinkedHashMap<>(encoder);
        out.keySet().removeIf(k -> k.startsWith(headPrefix));
        return out;
    }

    private static String sha256(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test
    void officialMocoV1CheckpointGivesBothEncodersItsBackboneAndAHeadOnlyOfTheSameShape() throws Exception {
        Path file = CheckpointInteropTest.golden(CheckpointInteropTest.TRAINED);
        Map<String, HostTensor> sd = StateDictFiles.read(file);
        Map<String, HostTensor> encoderQ = under(sd, "module.encoder_q.");
        MocoConfig run = small("model.dim=8"); // the file's linear head is 8-d too

        InitFromFile w = InitFromFile.read(file, Map.of(), run);
        MocoConfig cfg = w.configure(run, preset("cpu-small"), QUIET);
        assertEquals("resnet18", cfg.model().arch());
        assertEquals(2.0 / 64, cfg.model().width(), "the file's width (2-channel stem), not the preset's 0.25");
        assertFalse(cfg.model().cifarStem());
        assertEquals(16, cfg.moco().queueSize(), "the run's own settings stay");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            List<String> lines = new java.util.ArrayList<>();
            MomentumContrast moco = started(w, cfg, m, lines);
            assertHas(withoutHead(encoderQ, "fc."), moco.encoderQ().stateDict(), "encoder_q backbone");
            assertHas(withoutHead(encoderQ, "fc."), moco.encoderK().stateDict(), "encoder_k backbone (a copy of encoder_q)");
            assertHas(headOnly(encoderQ, "fc."), moco.encoderQ().stateDict(), "the 8-d linear head");
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("head (fc): from the file")), lines.toString());

            // The queue is the new run's: the seed's random keys, not the file's 16 keys.
            try (MomentumContrast seedOnly = MethodFactory.fresh(cfg, m)) {
                float[] queue = ((MocoV1V2) moco).queue().keys().toFloatArray();
                assertArrayEquals(((MocoV1V2) seedOnly).queue().keys().toFloatArray(), queue);
                assertEquals(0, ((MocoV1V2) moco).queue().pointer());
                float[] filesQueue = sd.get("module.queue").transpose2d().toFloatArray();
                assertFalse(java.util.Arrays.equals(filesQueue, queue), "the file's queue is not used");
            }
            moco.close();

            // A head of another shape (16-d) starts fresh, from the run's seed; the backbone is still the file's.
            MocoConfig other = w.configure(small("model.dim=16"), preset("cpu-small"), QUIET);
            lines.clear();
            try (MomentumContrast moco16 = started(w, other, m, lines);
                 MomentumContrast seedOnly = MethodFactory.fresh(other, m)) {
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("head (fc): fresh")), lines.toString());
                assertArrayEquals(seedOnly.encoderQ().stateDict().get("fc.weight").toFloatArray(),
                        moco16.encoderQ().stateDict().get("fc.weight").toFloatArray());
                assertHas(withoutHead(encoderQ, "fc."), moco16.encoderQ().stateDict(), "backbone under a fresh head");
            }
        }
        assertEquals(sha256(file), w.provenance().get("sha256").asText());
        assertEquals(file.getFileName().toString(), w.provenance().get("file_name").asText());
    }

    @Test
    void torchvisionResNetGivesTheBackboneAndItsMlpHeadStartsFreshUnderALinearRun() {
        Path file = InteropFiles.path("resnet18_w4_cifar_mlp.pt");
        Map<String, HostTensor> sd = StateDictFiles.read(file);
        InitFromFile w = InitFromFile.read(file, Map.of(), small());
        MocoConfig cfg = w.configure(small(), preset("cpu-small"), QUIET);
        assertTrue(cfg.model().cifarStem());
        assertEquals(0.0625, cfg.model().width());
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            List<String> lines = new java.util.ArrayList<>();
            try (MomentumContrast moco = started(w, cfg, m, lines)) {
                assertHas(withoutHead(sd, "fc."), moco.encoderQ().stateDict(), "encoder_q backbone");
                assertHas(withoutHead(sd, "fc."), moco.encoderK().stateDict(), "encoder_k backbone");
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("head (fc): fresh") && l.contains("fc.0.weight")), lines.toString());
            }
        }
    }

    @Test
    void officialMocoV3CheckpointGivesBackboneProjectorAndPredictorWhenTheirShapesAreTheRuns(@TempDir Path tmp) {
        Path file = CheckpointInteropTest.golden("moco_v3/checkpoint_0000.pth.tar");
        Map<String, HostTensor> sd = StateDictFiles.read(file);
        String p = sd.keySet().iterator().next().startsWith("module.") ? "module." : "";
        Map<String, HostTensor> base = under(sd, p + "base_encoder.");
        // The head sizes the importer reads from the same file, given to the run as a user would.
        MocoConfig imported = Checkpoints.load(CheckpointImport.run(new CheckpointImport.Request(file, tmp.resolve("i.ckpt"), null,
                Map.of("train.batch_size", "4"))).checkpoint()).config();
        String[] heads = {"model.dim=" + imported.model().dim(), "model.head_hidden=" + imported.model().headHidden(),
            "model.head_layers=" + imported.model().headLayers(), "model.predictor_hidden=" + imported.model().predictorHidden(),
            "train.batch_size=4", "moco.bn_splits=1", "train.epochs=2"};
        MocoConfig run = ConfigLoader.defaults().preset("cpu-small-v3").setAll(pairs(heads)).build();
        InitFromFile w = InitFromFile.read(file, Map.of(), run);
        MocoConfig cfg = w.configure(run, preset("cpu-small-v3"), QUIET);
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            List<String> lines = new java.util.ArrayList<>();
            try (MomentumContrast moco = started(w, cfg, m, lines)) {
                assertHas(base, moco.encoderQ().stateDict(), "base encoder, projector included");
                assertHas(base, moco.encoderK().stateDict(), "momentum encoder = base encoder");
                assertHas(under(sd, p + "predictor."), moco.networks().get("predictor.").stateDict(), "predictor");
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("predictor: from the file")), lines.toString());
            }
            // Another projector output size: projector and predictor fresh, the backbone still the file's.
            MocoConfig wider = w.configure(ConfigLoader.defaults().preset("cpu-small-v3").setAll(pairs(heads))
                    .set("model.dim=" + (imported.model().dim() + 2)).build(), preset("cpu-small-v3"), QUIET);
            lines.clear();
            try (MomentumContrast moco = started(w, wider, m, lines)) {
                assertHas(withoutHead(base, "fc."), moco.encoderQ().stateDict(), "backbone");
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("head (fc): fresh")), lines.toString());
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("predictor: fresh")), lines.toString());
            }
        }
    }

    @Test
    void timmVitStateDictGivesTheBackboneAtTheRunsImageSize(@TempDir Path tmp) {
        // A timm VisionTransformer state dict, as `export --format torchvision` writes one from the official ViT golden.
        Path imported = tmp.resolve("vit.ckpt");
        CheckpointImport.run(new CheckpointImport.Request(CheckpointInteropTest.golden("vit/checkpoint.pth.tar"), imported, null,
                Map.of("model.vit_heads", "2", "train.batch_size", "4")));
        Path timm = tmp.resolve("vit.pth");
        CheckpointExport.run(new CheckpointExport.Request(imported, CheckpointExport.Format.TORCHVISION, timm, null));
        Map<String, HostTensor> sd = StateDictFiles.read(timm);

        MocoConfig run = ConfigLoader.defaults().preset("cpu-vit").set("train.batch_size=4").set("train.epochs=2").build();
        assertThrows(UserException.class, () -> InitFromFile.read(timm, Map.of(), run), "head count not in the weights");
        InitFromFile w = InitFromFile.read(timm, Map.of("model.vit_heads", "2"), run);
        MocoConfig cfg = w.configure(run, preset("cpu-vit"), QUIET);
        assertEquals(16, cfg.model().vitWidth());
        assertEquals(2, cfg.model().vitDepth());
        assertEquals(32, cfg.train().imageSize(), "the run's image size; the fixed sin-cos embedding is made for it");
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            List<String> lines = new java.util.ArrayList<>();
            try (MomentumContrast moco = started(w, cfg, m, lines)) {
                Map<String, HostTensor> backbone = new LinkedHashMap<>(sd);
                backbone.remove("pos_embed");
                assertHas(backbone, moco.encoderQ().stateDict(), "ViT backbone");
                assertHas(backbone, moco.encoderK().stateDict(), "ViT momentum backbone");
                assertTrue(lines.get(0).contains("pos_embed is the run's sin-cos for 32 px (the file's is for 16 px)"), lines.toString());
                assertTrue(lines.stream().anyMatch(l -> l.startsWith("head (head): fresh") && l.contains("the file has none")), lines.toString());
            }
        }
    }

    /**
     * A run from a MoCo4J checkpoint of a trained run: its first checkpoint counts from step 0 with a one-step optimizer
     * and the new run's queue pointer, keeps the file's name and SHA-256, and metrics.jsonl starts with the kNN of the
     * initial weights ("epoch 0").
     */
    @Test
    void aRunFromAMoco4jCheckpointStartsItsOwnScheduleQueueAndOptimizerAndRecordsTheSource(@TempDir Path tmp) throws Exception {
        MocoConfig source = small("model.width=0.125", "model.dim=8");
        Path first = tmp.resolve("first");
        Pretraining.Outcome o = Pretraining.run(new Pretraining.Request(first, source, Device.cpu(), false,
                TrainingData.open(source), StopSignal.manual(), QUIET, Long.MAX_VALUE));
        assertEquals(Pretraining.Status.COMPLETED, o.status());
        Path file = first.resolve("checkpoints/last.ckpt");
        Checkpoints.Loaded src = Checkpoints.load(file);
        assertTrue(src.optimizerSteps() > 1 && src.progress().epoch() == 2, "the source ran two epochs");

        MocoConfig run = small("train.seed=7");
        InitFromFile w = InitFromFile.read(file, Map.of(), run);
        MocoConfig cfg = w.configure(run, preset("cpu-small"), QUIET);
        assertEquals(0.125, cfg.model().width());
        Path second = tmp.resolve("second");
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        o = Pretraining.run(new Pretraining.Request(second, cfg, Device.cpu(), false, TrainingData.open(cfg), StopSignal.manual(),
                new PrintStream(said, true), 1, w, java.util.List.of()));
        assertEquals(Pretraining.Status.STOPPED, o.status());
        Checkpoints.Loaded after = Checkpoints.load(second.resolve("checkpoints/last.ckpt"));
        assertEquals(1, after.optimizerSteps(), "a fresh optimizer, one step old");
        assertEquals(0, after.progress().epoch());
        assertEquals(1, after.progress().globalStep());
        assertEquals(cfg.keysPerStep() % cfg.moco().queueSize(), after.queuePointer(), "the new queue, one batch in");
        JsonNode origin = after.origin();
        assertNotNull(origin);
        assertEquals(sha256(file), origin.get("sha256").asText());
        assertEquals("last.ckpt", origin.get("file_name").asText());
        assertTrue(Files.readString(second.resolve("config.yaml")).contains("# sha256: " + sha256(file)));
        JsonNode firstRecord = new ObjectMapper().readTree(Files.readAllLines(second.resolve("metrics.jsonl")).get(0));
        assertEquals("epoch", firstRecord.get("type").asText());
        assertEquals(-1, firstRecord.get("epoch").asInt(), "charted at epoch 0");
        assertTrue(firstRecord.get("knn_top1").isNumber(), firstRecord.toString());
        String out = said.toString();
        assertTrue(out.contains("Initial weights: backbone: from last.ckpt") && out.contains("epoch 0 (initial weights): kNN top-1"), out);

        // Resumed, the run keeps its origin.
        Pretraining.run(new Pretraining.Request(second, cfg, Device.cpu(), true, TrainingData.open(cfg), StopSignal.manual(),
                QUIET, 2));
        assertEquals(sha256(file), Checkpoints.load(second.resolve("checkpoints/last.ckpt")).origin().get("sha256").asText());
    }

    @Test
    void filesThatAreNotModelsAndContradictingSettingsFailInOneLine(@TempDir Path tmp) throws Exception {
        Path text = Files.writeString(tmp.resolve("notes.pth"), "these are not weights\n");
        assertOneLine(() -> InitFromFile.read(text, Map.of(), small()), "--init-from");
        assertOneLine(() -> InitFromFile.read(InteropFiles.path("evil_system_zip.pt"), Map.of(), small()), "--init-from");
        assertOneLine(() -> InitFromFile.read(InteropFiles.path("dtypes_zip.pt"), Map.of(), small()), "--init-from");
        assertOneLine(() -> InitFromFile.read(tmp.resolve("missing.pth"), Map.of(), small()), "no such file");

        // The preset's width is replaced by the file's; a width the user chose that contradicts it is refused.
        InitFromFile w = InitFromFile.read(CheckpointInteropTest.golden(CheckpointInteropTest.TRAINED), Map.of(), small());
        assertOneLine(() -> w.configure(small("model.width=0.5"), preset("cpu-small"), QUIET), "model.width=0.5");

        // --init-from with --resume: one line, exit 2.
        StringWriter err = new StringWriter();
        int code = io.moco4j.cli.Main.run(new PrintWriter(err, true), "pretrain", "--out", tmp.resolve("r").toString(), "--resume",
                "--init-from", CheckpointInteropTest.golden(CheckpointInteropTest.TRAINED).toString());
        assertEquals(2, code, err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().contains("--init-from") && err.toString().contains("--resume"), err.toString());
    }

    private static void assertOneLine(org.junit.jupiter.api.function.Executable call, String part) {
        UserException e = assertThrows(UserException.class, call);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    private static Map<String, String> pairs(String... kv) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String s : kv) {
            out.put(s.substring(0, s.indexOf('=')), s.substring(s.indexOf('=') + 1));
        }
        return out;
    }

    private static Map<String, HostTensor> headOnly(Map<String, HostTensor> encoder, String headPrefix) {
        Map<String, HostTensor> out = new LinkedHashMap<>(encoder);
        out.keySet().removeIf(k -> !k.startsWith(headPrefix));
        return out;
    }
}
