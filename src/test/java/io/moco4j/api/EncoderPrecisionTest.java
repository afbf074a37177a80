package io.moco4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.cli.Main;
import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.FeatureBank;
import io.moco4j.io.Npy;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Precision;
import io.moco4j.util.NoGrad;
import io.moco4j.util.UserException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inference in bf16 (issue 21): {@code Encoder.Options.precision}, and through it {@code embed} and {@code knn}.
 *
 * <p>Tolerance, derived before looking at the bf16 results. Under bf16 autocast every rounding is to bf16 (unit
 * roundoff 2^-9); which values get rounded is fixed by the network: the input image, each convolution's weight and
 * output, each BatchNorm's output, each residual sum and the pooled output. Measured here: the float32 network with
 * only its convolution weights rounded to bf16 (a checkpoint written that way, {@link TinyEncoders#checkpoint(Path,
 * long, boolean)}), against the plain float32 network, on the same images: the largest relative L2 error of an
 * embedding, {@code e_w}. That measurement contains W rounding events (one per convolution); autocast's forward
 * contains {@code 2 + 2W + B + A} (image, pool; weights and outputs of the W convolutions; B BatchNorm outputs; A
 * residual sums). Counted from the network's own tensors, with the same sensitivity per event and errors that add
 * at worst linearly, the bound is {@code e_w (2 + 2W + B + A) / W} (3.5 e_w for the ResNet-18). A bf16 embedding
 * further than that from the float32 one is not bf16 rounding but something else (a wrong layer, a lost cast).
 */
class EncoderPrecisionTest {
    private static final Device CPU = Device.cpu();
    private static final int BATCH = 4;

    @TempDir
    static Path tmp;
    static Path ckpt;
    static Path images;
    static List<Path> files;
    static float[][] fp32;
    static float[][] bf16;
    static double weightRoundingError;
    static double roundingEventRatio;
    static double tolerance;

    @BeforeAll
    static void fixtures() throws Exception {
        ckpt = TinyEncoders.checkpoint(tmp, 3);
        Path roundedWeights = TinyEncoders.checkpoint(tmp, 3, true);
        images = tmp.resolve("images");
        files = TinyEncoders.sceneFolder(images, 12, 5);
        try (Encoder a = open(ckpt, Precision.FP32); Encoder b = open(ckpt, Precision.BF16);
             Encoder w = open(roundedWeights, Precision.FP32)) {
            fp32 = a.embed(files);
            bf16 = b.embed(files);
            float[][] fp32RoundedWeights = w.embed(files);
            for (int i = 0; i < files.size(); i++) {
                weightRoundingError = Math.max(weightRoundingError, relativeError(fp32RoundedWeights[i], fp32[i]));
            }
            roundingEventRatio = roundingEventRatio(a.network().stateDict());
        }
        tolerance = weightRoundingError * roundingEventRatio;
    }

    static Encoder open(Path file, Precision precision) {
        return Encoder.load(file, Encoder.Options.defaults().withDevice("cpu").withBatchSize(BATCH).withPrecision(precision));
    }

    /** (2 + 2W + B + A) / W for the backbone's tensors: see the class comment. */
    static double roundingEventRatio(Map<String, NDArray> state) {
        long convs = state.entrySet().stream().filter(e -> e.getValue().getShape().dimension() == 4).count();
        long batchNorms = state.keySet().stream().filter(k -> k.endsWith("running_mean") && !k.startsWith("fc")).count();
        long residualSums = state.keySet().stream().filter(k -> k.matches("layer\\d+\\.\\d+\\.conv1\\.weight")).count();
        assertEquals(20, convs, "ResNet-18: 17 convolutions + 3 downsampling ones");
        assertEquals(8, residualSums, "ResNet-18: 8 basic blocks");
        return (2.0 + 2 * convs + batchNorms + residualSums) / convs;
    }

    static double relativeError(float[] got, float[] want) {
        double d = 0;
        double n = 0;
        for (int i = 0; i < want.length; i++) {
            d += (got[i] - (double) want[i]) * (got[i] - (double) want[i]);
            n += (double) want[i] * want[i];
        }
        return Math.sqrt(d / n);
    }

    private static void assertWithinTolerance(float[][] got, String what) {
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            double e = relativeError(got[i], fp32[i]);
            worst = Math.max(worst, e);
            assertTrue(e <= tolerance, what + " row " + i + ": relative error " + e + " above the bound " + tolerance
                    + " (weight rounding alone " + weightRoundingError + " x " + roundingEventRatio + " rounding events)");
        }
        System.out.printf("%s: worst relative error to float32 %.3g; bound %.3g = %.3g (weights rounded) x %.2f%n",
                what, worst, tolerance, weightRoundingError, roundingEventRatio);
    }

    @Test
    void bf16EmbeddingsAreFloat32AndWithinTheBf16RoundingBound() {
        assertTrue(weightRoundingError > 0, "rounding the weights to bf16 changed nothing: the measurement would be vacuous");
        boolean anyDifferent = false;
        for (int i = 0; i < files.size(); i++) {
            for (int j = 0; j < fp32[i].length; j++) {
                anyDifferent |= fp32[i][j] != bf16[i][j];
            }
        }
        assertTrue(anyDifferent, "bf16 embeddings equal float32's bit for bit: autocast did not run");
        assertWithinTolerance(bf16, "Encoder.embed bf16");

        try (Encoder enc = open(ckpt, Precision.BF16)) {
            assertEquals(Precision.BF16, enc.precision());
            AtomicInteger batches = new AtomicInteger();
            enc.embedAll(DataSources.open(images.toString(), DataSplit.TEST, false, false), (from, batch) -> {
                assertEquals(DataType.FLOAT32, batch.getDataType(), "a batch of embeddings leaves the model as float32");
                assertFalse(Autocast.isEnabled(CPU), "autocast is on between batches");
                batches.incrementAndGet();
            });
            assertEquals(3, batches.get());
            assertFalse(Autocast.isEnabled(CPU), "autocast is on after embedAll");
            try (NDManager m = enc.manager().newSubManager(); NoGrad ignored = NoGrad.enter()) {
                NDArray y = enc.features().apply(m.randomNormal(new Shape(2, 3, 32, 32)));
                assertEquals(DataType.FLOAT32, y.getDataType(), "the lower-level feature function returns float32 too");
            }
            assertFalse(Autocast.isEnabled(CPU), "autocast is on after features().apply");
            enc.embed(files.get(0));
            assertFalse(Autocast.isEnabled(CPU), "autocast is on after embed");
        }
    }

    @Test
    void autocastIsOffAfterACallThatThrowsInsideTheForwardPass() {
        try (Encoder enc = open(ckpt, Precision.BF16)) {
            enc.embed(files.get(1));
            // A freed weight makes the forward pass throw inside the autocast region (DJL checks the handle first).
            enc.network().stateDict().get("layer1.0.conv2.weight").close();
            assertThrows(RuntimeException.class, () -> enc.embed(files.get(1)));
            assertFalse(Autocast.isEnabled(CPU), "a call that threw left autocast on on the calling thread");
            assertThrows(RuntimeException.class, () -> enc.embed(files.subList(0, 6)));
            assertFalse(Autocast.isEnabled(CPU), "a batch call that threw left autocast on");
        }
    }

    @Test
    void autoIsBf16ExactlyWhereTheInjectedCpuFlagsSayNativeBf16() throws Exception {
        Path with = Files.writeString(tmp.resolve("cpuinfo-bf16"), "processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n");
        Path without = Files.writeString(tmp.resolve("cpuinfo-avx2"), "processor : 0\nflags : fpu sse2 avx2 fma\n");
        String before = System.getProperty("moco4j.cpuinfo");
        try {
            System.setProperty("moco4j.cpuinfo", with.toString());
            try (Encoder enc = open(ckpt, Precision.AUTO)) {
                assertEquals(Precision.BF16, enc.precision());
                assertArraysEqual(bf16, enc.embed(files), "auto with avx512_bf16 computes what bf16 computes");
            }
            System.setProperty("moco4j.cpuinfo", without.toString());
            try (Encoder enc = open(ckpt, Precision.AUTO)) {
                assertEquals(Precision.FP32, enc.precision());
                assertArraysEqual(fp32, enc.embed(files), "auto without a bf16 flag is float32");
            }
        } finally {
            if (before == null) {
                System.clearProperty("moco4j.cpuinfo");
            } else {
                System.setProperty("moco4j.cpuinfo", before);
            }
        }
    }

    private static void assertArraysEqual(float[][] want, float[][] got, String what) {
        for (int i = 0; i < want.length; i++) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(want[i], got[i], what + ", row " + i);
        }
    }

    @Test
    void embedCommandWritesFloat32WithinTheBound() throws Exception {
        Path out = tmp.resolve("cli/bf16.npy");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images", images.toString(),
                "--out", out.toString(), "--device", "cpu", "--batch-size", String.valueOf(BATCH), "--precision", "bf16");
        assertEquals(0, code, err.toString());
        Npy.NpyArray npy = Npy.read(out);
        assertEquals("<f4", npy.dtype(), "embed writes float32 whatever the precision");
        List<Path> order = Files.readAllLines(tmp.resolve("cli/bf16.txt")).stream().map(Path::of).toList();
        assertEquals(files, order, "the folder scan order is the fixture's");
        float[] flat = npy.toFloatArray();
        int dim = fp32[0].length;
        float[][] rows = new float[files.size()][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = java.util.Arrays.copyOfRange(flat, i * dim, (i + 1) * dim);
        }
        assertWithinTolerance(rows, "embed --precision bf16");
        assertFalse(Autocast.isEnabled(CPU), "autocast is on after the embed command");
    }

    @Test
    void knnFeaturesAreFloat32WithinTheBoundAndTheCommandRuns() throws Exception {
        ImageDataset data = DataSources.open(images.toString(), DataSplit.TEST, false, false);
        float[][] rows = new float[data.size()][];
        try (Encoder enc = open(ckpt, Precision.BF16)) {
            // FeatureBank.forEachBatch with enc.features() is what KnnEvaluation (./moco4j knn) extracts the bank with
            FeatureBank.forEachBatch(data, enc.preprocessing(), enc.features(), BATCH, enc.manager(), (from, batch) -> {
                assertEquals(DataType.FLOAT32, batch.getDataType());
                float[] flat = batch.toFloatArray();
                int dim = Math.toIntExact(batch.getShape().get(1));
                for (int r = 0; r < batch.getShape().get(0); r++) {
                    rows[from + r] = java.util.Arrays.copyOfRange(flat, r * dim, (r + 1) * dim);
                }
            });
        }
        assertWithinTolerance(rows, "kNN bank features bf16");
        Path json = tmp.resolve("knn-bf16.json");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "knn", "--checkpoint", ckpt.toString(), "--train", images.toString(),
                "--val", images.toString(), "--k", "3", "--device", "cpu", "--batch-size", String.valueOf(BATCH),
                "--precision", "bf16", "--out", json.toString());
        assertEquals(0, code, err.toString());
        assertTrue(Files.readString(json).contains("knn_top1"));
        assertFalse(Autocast.isEnabled(CPU), "autocast is on after the knn command");
    }

    @Test
    void linclsTrainsAFloat32ClassifierOnBf16Features() throws Exception {
        Path out = tmp.resolve("lincls-bf16");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "lincls", "--checkpoint", ckpt.toString(), "--train", images.toString(),
                "--val", images.toString(), "--out", out.toString(), "--device", "cpu", "--precision", "bf16", "--fast",
                "--epochs", "2", "--batch-size", "6", "--protocol", "v1");
        assertEquals(0, code, err.toString());
        List<String> metrics = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertFalse(metrics.isEmpty());
        assertFalse(String.join("\n", metrics).contains("NaN"), String.join("\n", metrics));
        assertFalse(Autocast.isEnabled(CPU), "autocast is on after the lincls command");
    }

    @Test
    void anOnnxModelRefusesBf16() {
        UserException e = assertThrows(UserException.class, () -> OnnxEncoder.load(tmp.resolve("model.onnx"),
                Encoder.Options.defaults().withPrecision(Precision.BF16)));
        assertTrue(e.getMessage().contains("ONNX Runtime"), e.getMessage());
    }
}
