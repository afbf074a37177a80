package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.method.Encoders;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.model.Encoder;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import io.moco4j.train.TrainingData;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The online probe leaves MoCo's step exactly as it was, and learns a separable set. */
class OnlineProbeTest {
    static final int SIZE = 16;

    static MocoConfig tiny() {
        return ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=16").set("train.batch_size=8").set("moco.bn_splits=2").set("train.image_size=16").build();
    }

    /** Four classes told apart by colour (red, green, blue, grey) under pixel noise. */
    static final class ColourClasses implements ImageDataset {
        private final int count;
        private final long seed;

        ColourClasses(int count, long seed) {
            this.count = count;
            this.seed = seed;
        }

        @Override
        public int size() {
            return count;
        }

        @Override
        public RgbImage load(int index) {
            Random r = new Random(seed * 1_000_003L + index);
            int c = label(index);
            byte[] p = new byte[SIZE * SIZE * 3];
            for (int i = 0; i < SIZE * SIZE; i++) {
                for (int ch = 0; ch < 3; ch++) {
                    int base = c == 3 ? 128 : ch == c ? 200 : 60;
                    p[3 * i + ch] = (byte) Math.max(0, Math.min(255, base + r.nextInt(61) - 30));
                }
            }
            return new RgbImage(SIZE, SIZE, p);
        }

        @Override
        public int label(int index) {
            return index % 4;
        }

        @Override
        public List<String> classes() {
            return List.of("red", "green", "blue", "grey");
        }

        @Override
        public String describe(int index) {
            return "colour " + index;
        }
    }

    static NDArray batch(NDManager m, ImageDataset ds, ViewTransform t, int from, int n) throws Exception {
        float[] out = new float[n * 3 * SIZE * SIZE];
        for (int i = 0; i < n; i++) {
            t.apply(ds.load(from + i), new SplittableRandom(i), out, i * 3 * SIZE * SIZE);
        }
        return m.create(out, new Shape(n, 3, SIZE, SIZE));
    }

    static Map<String, float[]> snapshot(Map<String, NDArray> tensors) {
        Map<String, float[]> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, v.toType(DataType.FLOAT32, false).toFloatArray()));
        return out;
    }

    static Map<String, float[]> gradients(Map<String, NDArray> params) {
        Map<String, float[]> out = new LinkedHashMap<>();
        params.forEach((k, v) -> {
            try (NDArray g = v.getGradient()) {
                out.put(k, g.toFloatArray());
            }
        });
        return out;
    }

    static void assertSame(Map<String, float[]> expected, Map<String, float[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        expected.forEach((k, v) -> assertArrayEquals(v, actual.get(k), what + " " + k + " must be bit-identical"));
    }

    /**
     * Two identical MoCo models take the same three steps; one has the probe trained before every step (as
     * Pretraining does). Gradients, losses, parameters and BatchNorm buffers of both encoders must agree bit for bit:
     * same ops on the same thread give the same bits, so any tolerance would hide an influence.
     */
    @Test
    void theMocoStepIsBitIdenticalWithAndWithoutTheProbe() throws Exception {
        MocoConfig cfg = tiny();
        ImageDataset ds = new ColourClasses(64, 1);
        ViewTransform t = TrainingData.evalTransform(SIZE);
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast plain = MethodFactory.fresh(cfg, root);
             MomentumContrast probed = MethodFactory.fresh(cfg, root);
             Optimizer optPlain = Optimizers.from(cfg);
             Optimizer optProbed = Optimizers.from(cfg);
             OnlineProbe probe = new OnlineProbe(probed.encoderQ().featureDim(), 4, 0.5, 0, root, ds, t, 8)) {
            assertSame(snapshot(plain.encoderQ().stateDict()), snapshot(probed.encoderQ().stateDict()), "initial state");
            float[] w0 = probe.classifier().weight().toFloatArray();
            for (int s = 0; s < 3; s++) {
                float lossPlain;
                float lossProbed;
                try (NDManager step = root.newSubManager()) {
                    NDArray v1 = batch(step, ds, t, 8 * s, 8);
                    NDArray v2 = batch(step, ds, t, 8 * s + 4, 8);
                    lossPlain = plain.train(v1, v2, s, optPlain, 0.1, 0.9).loss();
                }
                try (NDManager step = root.newSubManager()) {
                    NDArray v1 = batch(step, ds, t, 8 * s, 8);
                    NDArray v2 = batch(step, ds, t, 8 * s + 4, 8);
                    int[] labels = new int[8];
                    for (int i = 0; i < 8; i++) {
                        labels[i] = ds.label(8 * s + i);
                    }
                    probe.train(probed.encoderQ(), v1, labels, 1.0);
                    lossProbed = probed.train(v1, v2, s, optProbed, 0.1, 0.9).loss();
                }
                assertEquals(lossPlain, lossProbed, "step " + s + " loss");
                assertSame(gradients(plain.trainableParameters()), gradients(probed.trainableParameters()), "step " + s + " gradient");
            }
            assertSame(snapshot(plain.encoderQ().stateDict()), snapshot(probed.encoderQ().stateDict()), "query encoder state");
            assertSame(snapshot(plain.encoderK().stateDict()), snapshot(probed.encoderK().stateDict()), "key encoder state");
            assertFalse(java.util.Arrays.equals(w0, probe.classifier().weight().toFloatArray()), "the probe itself trained");
        }
    }

    @Test
    void itsValidationAccuracyRisesWellAboveChanceOnASeparableSet() throws Exception {
        MocoConfig cfg = tiny();
        ImageDataset train = new ColourClasses(320, 2);
        ImageDataset val = new ColourClasses(80, 3);
        ViewTransform t = TrainingData.evalTransform(SIZE);
        try (NDManager root = NDManager.newBaseManager()) {
            Encoder encoder = Encoders.create(cfg, root, 11); // random features: colour still separates them linearly
            try (OnlineProbe probe = new OnlineProbe(encoder.featureDim(), 4, 0.1, 0, root, val, t, 32)) {
                double before = probe.evaluate(encoder).get("probe_top1");
                for (int epoch = 0; epoch < 3; epoch++) {
                    for (int from = 0; from < train.size(); from += 32) {
                        try (NDManager step = root.newSubManager()) {
                            NDArray x = batch(step, train, t, from, 32);
                            int[] labels = new int[32];
                            for (int i = 0; i < 32; i++) {
                                labels[i] = train.label(from + i);
                            }
                            probe.train(encoder, x, labels, 1.0);
                        }
                    }
                }
                Map<String, Double> after = probe.evaluate(encoder);
                assertNotNull(after.get("probe_train_loss"));
                // chance is 25%; colour classes under a linear probe should be (nearly) all right
                assertTrue(after.get("probe_top1") >= 90, "probe top-1 " + after + " (before training " + before + ")");
                assertTrue(after.get("probe_top1") > before, "it learnt: " + before + " -> " + after.get("probe_top1"));
            }
        }
    }
}
