package io.moco4j.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.api.Encoder;
import io.moco4j.api.OnnxEncoder;
import io.moco4j.eval.FeatureFunction;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Mlp;
import io.moco4j.model.MlpSpec;
import io.moco4j.model.ProjectedEncoder;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.model.VisionTransformer;
import io.moco4j.model.VitSpec;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * ONNX Runtime on the exported model against our own libtorch forward pass (eval mode), for tiny networks of every
 * exported kind, with and without their heads, at batch 1 and 7.
 *
 * <p>Every state tensor is randomised first (BN running statistics, gammas, the ViT's cls token and position
 * embedding included): at init BN is close to the identity and the cls token ~1e-6, so an export that mixed up mean
 * and variance, or dropped the cls token, would still pass on freshly initialised weights.
 *
 * <p>Tolerance: {@link #TOLERANCE} relative to the largest output magnitude (at least 1). The noise floor was
 * measured with {@link OnnxNoiseFloor} (test sources; command in its comment) on these networks, weights and inputs, as
 * the same computation in another summation order: libtorch's batch-7 rows against the same images one at a time
 * differ by at most 4.4e-7 relative (ONNX Runtime at 1 vs 2 intra-op threads: 0, the tensors are too small to be
 * split), and ONNX Runtime against libtorch by at most 6.1e-7 (2026-12-06, 2-core AMD EPYC). 1e-5 is ~16x that
 * floor, room for other CPUs' kernels; a wrong layer (a weight of another seed, a missing BN) moves outputs by 1e-2
 * or more, which {@link #anotherSeedIsFarOutside} checks on every case.
 */
class OnnxParityTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    static Path tmp;
    static NDManager manager;

    @BeforeAll
    static void open() {
        manager = NDManager.newBaseManager(Device.cpu());
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    /** @param perImage the libtorch reference runs one image at a time (see the x0.1 case) */
    record Case(String name, int imageSize, boolean perImage, BiFunction<NDManager, Long, io.moco4j.model.Encoder> build) {
        Case(String name, int imageSize, BiFunction<NDManager, Long, io.moco4j.model.Encoder> build) {
            this(name, imageSize, false, build);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("resnet18-cifar-stem-linear-head", 32, (m, seed) -> ResNet.create(
                        new ResNetSpec(18, true, 0.125, false, HeadSpec.linear(8), 1), m, seed)),
                new Case("resnet18-imagenet-stem-mlp-head", 64, (m, seed) -> ResNet.create(
                        new ResNetSpec(18, false, 0.125, false, HeadSpec.mlp(0, 8), 1), m, seed)),
                new Case("resnet50-cifar-stem-v3-projector", 32, (m, seed) -> {
                    ResNet backbone = ResNet.create(new ResNetSpec(50, true, 0.0625, false, HeadSpec.none(), 1), m, seed);
                    Mlp projector = Mlp.create(MlpSpec.resnetProjector(backbone.featureDim(), 24, 8), m, seed, "fc.");
                    return new ProjectedEncoder(backbone, "fc.", projector, 8);
                }),
                new Case("resnet34-imagenet-stem-no-head-width-0.25", 40, (m, seed) -> ResNet.create(
                        new ResNetSpec(34, false, 0.25, false, HeadSpec.none(), 1), m, seed)),
                // x0.1: 6, 13, 26, 51 channels. libtorch 2.7.1 convolves 20-, 24-, 26-, 40- and 51-channel inputs wrongly
                // at batch > 1 on this CPU (LibtorchConvBatchRepro), so this case's reference is our forward one image
                // at a time, which agrees with Debian's torch 1.13 on those shapes
                new Case("resnet18-imagenet-stem-linear-head-width-0.1", 40, true, (m, seed) -> ResNet.create(
                        new ResNetSpec(18, false, 0.1, false, HeadSpec.linear(8), 1), m, seed)),
                new Case("vit-tiny-v3-projector", 32, (m, seed) -> {
                    VisionTransformer vit = VisionTransformer.create(new VitSpec(32, 8, 32, 2, 4, 4, true), m, seed);
                    Mlp projector = Mlp.create(new MlpSpec(32, 24, 8, 3, true), m, seed, "head.");
                    return new ProjectedEncoder(vit, "head.", projector, 8);
                }));
    }

    static Stream<Arguments> parity() {
        return cases().flatMap(c -> Stream.of(FeatureLayer.BACKBONE, FeatureLayer.HEAD).flatMap(
                layer -> Stream.of(1, 7).map(n -> Arguments.of(c, layer, n))));
    }

    @ParameterizedTest(name = "{0} {1} batch {2}")
    @MethodSource("parity")
    void onnxRuntimeMatchesOurForward(Case c, FeatureLayer layer, int batch) throws Exception {
        try (NDManager m = manager.newSubManager();
             io.moco4j.model.Encoder net = randomised(c.build().apply(m, 1L), 11)) {
            float[] images = images(batch, c.imageSize(), 5);
            float[][] expected = c.perImage() ? forwardOneByOne(net, layer, images, batch, c.imageSize())
                    : forward(net, layer, images, batch, c.imageSize());
            Path file = export(net, layer, c.imageSize(), c.name() + "-" + layer.id() + ".onnx");
            try (OnnxEncoder ort = OnnxEncoder.load(file, options(layer), 1)) {
                float[][] actual = ort.forward(images, batch);
                assertEquals(batch, actual.length);
                assertEquals(expected[0].length, actual[0].length, "output width");
                assertEquals(layer == FeatureLayer.HEAD ? net.outputDim() : net.featureDim(), ort.dimension());
                double scale = Math.max(1, maxAbs(expected));
                double diff = maxAbsDiff(expected, actual);
                assertTrue(diff <= TOLERANCE * scale, c + " " + layer + " batch " + batch + ": max |ORT - libtorch| "
                        + diff + " > " + TOLERANCE + " x " + scale);
            }
        }
    }

    /** The same tolerance tells a model of another seed apart: the check can fail on a wrong weight. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void anotherSeedIsFarOutside(Case c) throws Exception {
        try (NDManager m = manager.newSubManager();
             io.moco4j.model.Encoder net = randomised(c.build().apply(m, 1L), 11);
             io.moco4j.model.Encoder other = randomised(c.build().apply(m, 1L), 12)) {
            float[] images = images(7, c.imageSize(), 5);
            float[][] expected = forward(other, FeatureLayer.HEAD, images, 7, c.imageSize());
            Path file = export(net, FeatureLayer.HEAD, c.imageSize(), c.name() + "-seed.onnx");
            try (OnnxEncoder ort = OnnxEncoder.load(file, options(FeatureLayer.HEAD), 1)) {
                double diff = maxAbsDiff(expected, ort.forward(images, 7));
                assertTrue(diff > 100 * TOLERANCE * Math.max(1, maxAbs(expected)), c + ": another seed differs by only " + diff);
            }
        }
    }

    /** A ViT exported at another size than it was built for carries the sin-cos embedding of the new grid, as our forward. */
    @org.junit.jupiter.api.Test
    void vitAtAnotherImageSize() throws Exception {
        try (NDManager m = manager.newSubManager();
             io.moco4j.model.Encoder net = randomised(VisionTransformer.create(new VitSpec(32, 8, 32, 2, 4, 4, true), m, 1L), 11)) {
            // randomised() put noise into pos_embed; at 48 px both sides must use the recomputed fixed embedding instead
            float[] images = images(3, 48, 6);
            float[][] expected = forward(net, FeatureLayer.BACKBONE, images, 3, 48);
            Path file = export(net, FeatureLayer.BACKBONE, 48, "vit-48.onnx");
            try (OnnxEncoder ort = OnnxEncoder.load(file, options(FeatureLayer.BACKBONE), 1)) {
                assertEquals(48, ort.imageSize());
                double diff = maxAbsDiff(expected, ort.forward(images, 3));
                assertTrue(diff <= TOLERANCE * Math.max(1, maxAbs(expected)), "ViT at 48 px: " + diff);
            }
        }
    }

    static Encoder.Options options(FeatureLayer layer) {
        return Encoder.Options.defaults().withDevice("cpu").withLayer(layer);
    }

    static Path export(io.moco4j.model.Encoder net, FeatureLayer layer, int size, String name) {
        Path file = tmp.resolve(name);
        OnnxExport.write(new OnnxExport.Request(net, layer, size, false, "a test network"), file);
        return file;
    }

    /** Our forward in eval mode, as embed runs it ({@link FeatureFunction}). */
    static float[][] forward(io.moco4j.model.Encoder net, FeatureLayer layer, float[] images, int n, int size) {
        try (NDManager step = manager.newSubManager()) {
            NDArray x = step.create(images, new Shape(n, 3, size, size));
            NDArray y = FeatureFunction.of(net, layer).apply(x);
            int d = (int) y.getShape().get(1);
            float[] flat = y.toFloatArray();
            float[][] rows = new float[n][];
            for (int i = 0; i < n; i++) {
                rows[i] = java.util.Arrays.copyOfRange(flat, i * d, (i + 1) * d);
            }
            return rows;
        }
    }

    static float[][] forwardOneByOne(io.moco4j.model.Encoder net, FeatureLayer layer, float[] images, int n, int size) {
        int per = 3 * size * size;
        float[][] rows = new float[n][];
        for (int i = 0; i < n; i++) {
            rows[i] = forward(net, layer, java.util.Arrays.copyOfRange(images, i * per, (i + 1) * per), 1, size)[0];
        }
        return rows;
    }

    /**
     * Replaces every float tensor by fresh values: weights N(0, 1/fan_in) so activations keep their scale, BN
     * running means N(0, 0.1), running variances U(0.5, 1.5), gammas U(0.5, 1.5), betas N(0, 0.1), the cls token
     * and position embedding N(0, 0.5).
     */
    static io.moco4j.model.Encoder randomised(io.moco4j.model.Encoder net, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, NDArray> values = new LinkedHashMap<>();
        try (NDManager tmpManager = manager.newSubManager()) {
            for (Map.Entry<String, NDArray> e : net.stateDict().entrySet()) {
                String k = e.getKey();
                NDArray a = e.getValue();
                if (k.endsWith("num_batches_tracked")) {
                    continue;
                }
                long[] shape = a.getShape().getShape();
                float[] v = new float[(int) a.size()];
                boolean gammaLike = k.endsWith("running_var") || (a.getShape().dimension() == 1 && k.endsWith(".weight"));
                double fanIn = 1;
                for (int i = 1; i < shape.length; i++) {
                    fanIn *= shape[i];
                }
                for (int i = 0; i < v.length; i++) {
                    if (gammaLike) {
                        v[i] = (float) (0.5 + rng.nextDouble());
                    } else if (k.equals("cls_token") || k.equals("pos_embed")) {
                        v[i] = (float) (0.5 * rng.nextGaussian());
                    } else if (shape.length >= 2) {
                        v[i] = (float) (rng.nextGaussian() / Math.sqrt(fanIn));
                    } else {
                        v[i] = (float) (0.1 * rng.nextGaussian());
                    }
                }
                values.put(k, tmpManager.create(v, a.getShape()));
            }
            net.loadStateDict(values, false);
        }
        return net;
    }

    static float[] images(int n, int size, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] x = new float[n * 3 * size * size];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        return x;
    }

    static double maxAbs(float[][] a) {
        double m = 0;
        for (float[] r : a) {
            for (float v : r) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }

    static double maxAbsDiff(float[][] a, float[][] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return m;
    }
}
