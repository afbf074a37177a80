package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.loss.InfoNce;
import io.moco4j.model.Encoder;
import io.moco4j.model.ResNet;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.util.NoGrad;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MomentumContrastTest {
    static final double M = 0.9;

    static MocoConfig tiny(String... overrides) {
        ConfigLoader l = ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=16").set("train.batch_size=8").set("moco.bn_splits=2").set("moco.momentum=" + M);
        for (String o : overrides) {
            l.set(o);
        }
        return l.build();
    }

    static MocoV1V2 build(MocoConfig cfg, NDManager root) {
        Encoder q = Encoders.create(cfg, root, 3);
        Encoder k = Encoders.create(cfg, root, 4); // a different init: initial() must overwrite it
        KeyQueue queue = KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), 5);
        return MocoV1V2.initial(q, k, queue, new SingleDeviceShuffler(7), cfg.moco().temperature(), cfg.moco().symmetric());
    }

    static Map<String, float[]> snapshot(Map<String, NDArray> tensors) {
        Map<String, float[]> out = new HashMap<>();
        tensors.forEach((k, v) -> out.put(k, v.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray()));
        return out;
    }

    @Test
    void keyEncoderStartsAsAnExactCopyAndFollowsTheQueryByEma() {
        MocoConfig cfg = tiny();
        try (NDManager root = NDManager.newBaseManager(); MocoV1V2 moco = build(cfg, root);
             Sgd sgd = new Sgd(new SgdConfig(0.9, 5e-4, 0, false))) {
            Map<String, float[]> q0 = snapshot(moco.encoderQ().stateDict());
            Map<String, float[]> k0 = snapshot(moco.encoderK().stateDict());
            for (String key : q0.keySet()) {
                assertArrayEquals(q0.get(key), k0.get(key), key + " copied exactly");
            }
            // Two steps so that q and k differ before the second momentum update.
            step(moco, sgd, root, 0);
            Map<String, float[]> q1 = snapshot(moco.encoderQ().parameters());
            Map<String, float[]> k1 = snapshot(moco.encoderK().parameters());
            Map<String, float[]> kBuffers1 = snapshot(moco.encoderK().buffers());
            step(moco, sgd, root, 1);
            Map<String, float[]> k2 = snapshot(moco.encoderK().parameters());
            int changed = 0;
            for (String key : k2.keySet()) {
                float[] expected = new float[k1.get(key).length];
                for (int i = 0; i < expected.length; i++) {
                    expected[i] = (float) (M * k1.get(key)[i] + (1 - M) * q1.get(key)[i]);
                }
                assertArrayEquals(expected, k2.get(key), 1e-6f, key);
                if (!java.util.Arrays.equals(k1.get(key), k2.get(key))) {
                    changed++;
                }
            }
            assertTrue(changed > 0, "the key encoder moved");
            // BN running statistics are the key encoder's own (from its forward), not an average with q's.
            float[] qMean = snapshot(moco.encoderQ().buffers()).get("bn1.running_mean");
            float[] kMean = snapshot(moco.encoderK().buffers()).get("bn1.running_mean");
            float[] kMean1 = kBuffers1.get("bn1.running_mean");
            float[] emaOfBuffers = new float[kMean.length];
            for (int i = 0; i < kMean.length; i++) {
                emaOfBuffers[i] = (float) (M * kMean1[i] + (1 - M) * qMean[i]);
            }
            assertFalse(java.util.Arrays.equals(emaOfBuffers, kMean));
        }
    }

    @Test
    void gradientsReachOnlyTheQueryEncoderAndTheQueueAdvances() {
        MocoConfig cfg = tiny();
        try (NDManager root = NDManager.newBaseManager(); MocoV1V2 moco = build(cfg, root)) {
            float[] queueBefore = moco.queue().keys().toFloatArray();
            try (NDManager step = root.newSubManager()) {
                NDArray v1 = step.randomNormal(new Shape(8, 3, 32, 32));
                NDArray v2 = step.randomNormal(new Shape(8, 3, 32, 32));
                // At step 0 the key encoder equals the query encoder (and stays equal after the momentum
                // update), so the expected loss can be computed with the query encoder alone: queries from
                // view 1, keys from view 2 through the step-0 shuffle, negatives from the queue before enqueue.
                float expected;
                try (NoGrad ignored = NoGrad.enter()) {
                    NDArray q = InfoNce.normalize(moco.encoderQ().forward(v1, true));
                    KeyShuffler.Shuffled s = new SingleDeviceShuffler(7).shuffle(v2, 0);
                    NDArray k = s.restore(InfoNce.normalize(moco.encoderQ().forward(s.batch(), true)));
                    expected = InfoNce.loss(q, k, moco.queue().keys().duplicate(), cfg.moco().temperature()).getFloat();
                }
                MomentumContrast.StepResult r = moco.step(v1, v2, 0, M);
                assertEquals(expected, r.loss(), 1e-5f);
                assertTrue(r.acc1() >= 0 && r.acc1() <= r.acc5() && r.acc5() <= 100);
                NDArray g = moco.encoderQ().parameters().get("conv1.weight").getGradient();
                assertTrue(g.abs().sum().getFloat() > 0, "query encoder received gradients");
                assertFalse(moco.encoderK().parameters().get("conv1.weight").hasGradient(), "key encoder has no gradient");
            }
            assertEquals(8, moco.queue().pointer());
            float[] after = moco.queue().keys().toFloatArray();
            int dim = 8;
            assertArrayEquals(java.util.Arrays.copyOfRange(queueBefore, 8 * dim, 16 * dim),
                    java.util.Arrays.copyOfRange(after, 8 * dim, 16 * dim), "only the oldest 8 rows were replaced");
            try (NDManager m = root.newSubManager()) {
                NDArray newRows = moco.queue().keys().get(new NDIndex("0:8"));
                float[] norms = newRows.norm(new int[] {1}).toFloatArray();
                for (float n : norms) {
                    assertEquals(1f, n, 1e-5f, "enqueued keys are normalised");
                }
                assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOf(queueBefore, 8 * dim), java.util.Arrays.copyOf(after, 8 * dim)));
            }
        }
    }

    @Test
    void symmetricModeEnqueuesBothKeySetsOnce() {
        MocoConfig cfg = tiny("moco.symmetric=true", "moco.queue_size=32");
        try (NDManager root = NDManager.newBaseManager(); MocoV1V2 moco = build(cfg, root);
             NDManager step = root.newSubManager()) {
            MomentumContrast.StepResult r = moco.step(step.randomNormal(new Shape(8, 3, 32, 32)),
                    step.randomNormal(new Shape(8, 3, 32, 32)), 0, M);
            assertEquals(16, moco.queue().pointer());
            assertTrue(Float.isFinite(r.loss()) && r.loss() > 0);
        }
    }

    @Test
    void shuffleChangesKeysOnlyWhenBatchNormIsSplit() {
        // With one BN group, batch statistics do not depend on the order, so shuffling must not change the keys;
        // with split BN it does, which is exactly what Shuffle BN relies on.
        for (int splits : new int[] {1, 2}) {
            MocoConfig cfg = tiny("moco.bn_splits=" + splits);
            try (NDManager root = NDManager.newBaseManager(); NoGrad ignored = NoGrad.enter()) {
                Encoder k = Encoders.create(cfg, root, 1);
                NDArray x = root.randomNormal(new Shape(8, 3, 32, 32));
                NDArray plain = InfoNce.normalize(k.forward(x, true));
                KeyShuffler.Shuffled s = new SingleDeviceShuffler(3).shuffle(x, 0);
                NDArray shuffled = s.restore(InfoNce.normalize(k.forward(s.batch(), true)));
                float diff = plain.sub(shuffled).abs().max().getFloat();
                if (splits == 1) {
                    assertTrue(diff < 1e-4, "one group: order-independent, diff " + diff);
                } else {
                    assertTrue(diff > 1e-3, "two groups: shuffling changes the BN statistics, diff " + diff);
                }
            }
        }
    }

    @Test
    void trainingStepsLeaveNoArraysBehind() {
        MocoConfig cfg = tiny();
        try (NDManager root = NDManager.newBaseManager(); MocoV1V2 moco = build(cfg, root);
             Sgd sgd = new Sgd(new SgdConfig(0.9, 5e-4, 0, false))) {
            step(moco, sgd, root, 0); // the first step creates the momentum buffers
            int before = root.getManagedArrays().size();
            for (int i = 1; i <= 3; i++) {
                step(moco, sgd, root, i);
                assertEquals(before, root.getManagedArrays().size(), "live arrays after step " + i);
            }
        }
    }

    private static void step(MocoV1V2 moco, Sgd sgd, NDManager root, long i) {
        try (NDManager step = root.newSubManager()) {
            Sgd.zeroGrad(moco.encoderQ().parameters());
            moco.step(step.randomNormal(new Shape(8, 3, 32, 32)), step.randomNormal(new Shape(8, 3, 32, 32)), i, M);
            sgd.step(moco.encoderQ().parameters(), 0.5);
        }
    }
}
