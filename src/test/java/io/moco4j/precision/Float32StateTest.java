package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.eval.FeatureFunction;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * What stays float32 in a bf16 run, checked on the real step ({@code MomentumContrast.train}): the master weights of
 * both encoders, the gradients handed to the optimizer, the optimizer state, the momentum (EMA) encoder, the queue,
 * BatchNorm running statistics, the loss, and the features that leave the model. And that autocast is off again
 * after a step on every thread, also when the step throws.
 */
class Float32StateTest {
    private static final Device CPU = Device.cpu();

    static MocoConfig tiny(String preset) {
        ConfigLoader l = ConfigLoader.defaults().preset(preset).set("model.width=0.125").set("model.dim=8")
                .set("train.batch_size=8").set("train.image_size=16");
        if (preset.equals("cpu-small")) {
            l.set("moco.queue_size=16").set("moco.bn_splits=2");
        } else {
            l.set("model.head_hidden=16").set("model.predictor_hidden=16");
        }
        return l.build();
    }

    static NDArray[] views(NDManager m, long seed) {
        m.getEngine().setRandomSeed((int) seed);
        return new NDArray[] {m.randomNormal(new Shape(8, 3, 16, 16)), m.randomNormal(new Shape(8, 3, 16, 16))};
    }

    /** Records the dtype of every gradient the optimizer is handed, then steps. */
    static final class Recording implements Optimizer {
        final Optimizer inner;
        final List<DataType> gradientTypes = new ArrayList<>();
        boolean autocastOnDuringStep;

        Recording(Optimizer inner) {
            this.inner = inner;
        }

        @Override
        public void step(Map<String, NDArray> params, double lr) {
            autocastOnDuringStep |= Autocast.isEnabled(CPU);
            params.values().forEach(p -> gradientTypes.add(p.getGradient().getDataType()));
            inner.step(params, lr);
        }

        @Override
        public Map<String, NDArray> state() {
            return inner.state();
        }

        @Override
        public void loadState(Map<String, NDArray> state) {
            inner.loadState(state);
        }

        @Override
        public long stepCount() {
            return inner.stepCount();
        }

        @Override
        public void setStepCount(long steps) {
            inner.setStepCount(steps);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    @ParameterizedTest
    // cpu-vit: a tiny ViT v3 step under bf16 (it aborted the JVM while DJL's softmax was handed bf16 scores)
    @ValueSource(strings = {"cpu-small", "cpu-small-v3", "cpu-vit"})
    void everythingThatLeavesTheForwardPassIsFloat32(String preset) {
        MocoConfig cfg = tiny(preset);
        try (NDManager root = NDManager.newBaseManager(CPU);
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Recording opt = new Recording(Optimizers.from(cfg))) {
            moco.setPrecision(Precision.BF16);
            assertEquals(Precision.BF16, moco.precision());
            for (int s = 0; s < 2; s++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = views(step, s);
                    MomentumContrast.StepResult r = moco.train(v[0], v[1], s, opt, 0.01, 0.9);
                    assertTrue(Float.isFinite(r.loss()), "finite float32 loss, step " + s);
                }
                assertFalse(Autocast.isEnabled(CPU), "autocast is off after the step");
            }
            assertFalse(opt.autocastOnDuringStep, "the optimizer runs outside autocast");
            assertFalse(opt.gradientTypes.isEmpty());
            opt.gradientTypes.forEach(t -> assertEquals(DataType.FLOAT32, t, "gradient handed to the optimizer"));
            moco.networks().forEach((prefix, net) -> net.stateDict().forEach((k, t) -> {
                if (!k.endsWith("num_batches_tracked")) {
                    assertEquals(DataType.FLOAT32, t.getDataType(), prefix + k + " (weights, EMA copy, BN running stats)");
                }
            }));
            opt.state().forEach((k, t) -> assertEquals(DataType.FLOAT32, t.getDataType(), "optimizer state " + k));
            assertFalse(opt.state().isEmpty());
            if (moco instanceof MocoV1V2 v2) {
                assertEquals(DataType.FLOAT32, v2.queue().keys().getDataType(), "the queue");
            }
            try (NDManager m = root.newSubManager()) {
                NDArray x = views(m, 9)[0];
                FeatureFunction plain = FeatureFunction.of(moco.encoderQ(), FeatureLayer.BACKBONE);
                NDArray f = plain.inPrecision(Precision.BF16, CPU).apply(x);
                assertEquals(DataType.FLOAT32, f.getDataType(), "embeddings leave the model as float32");
                NDArray f32 = plain.apply(x);
                assertNotEquals(0f, f.sub(f32).abs().max().getFloat(), "the bf16 features were computed in bf16");
                assertFalse(Autocast.isEnabled(CPU));
            }
        }
    }

    @Test
    void autocastIsOffAfterAStepThatThrows() {
        MocoConfig cfg = tiny("cpu-small-v3");
        try (NDManager root = NDManager.newBaseManager(CPU);
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            moco.setPrecision(Precision.BF16);
            try (NDManager step = root.newSubManager()) {
                // 4 channels: the first convolution fails inside the autocast region
                NDArray bad = step.randomNormal(new Shape(8, 4, 16, 16));
                assertThrows(RuntimeException.class, () -> moco.train(bad, bad, 0, opt, 0.01, 0.9));
            }
            assertFalse(Autocast.isEnabled(CPU), "autocast is off after a failed step");
        }
    }

    @Test
    void autocastIsOffAfterStepsOnEveryThread() throws Exception {
        MocoConfig cfg = tiny("cpu-small");
        // one thread after the other (DJL allows one gradient collector at a time), each a fresh thread
        for (int t = 0; t < 2; t++) {
            int seed = t;
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Callable<Boolean> job = () -> {
                    try (NDManager root = NDManager.newBaseManager(CPU);
                         MomentumContrast moco = MethodFactory.fresh(cfg, root);
                         Optimizer opt = Optimizers.from(cfg)) {
                        moco.setPrecision(Precision.BF16);
                        try (NDManager step = root.newSubManager()) {
                            NDArray[] v = views(step, seed);
                            moco.train(v[0], v[1], 0, opt, 0.01, 0.9);
                        }
                        return Autocast.isEnabled(CPU);
                    }
                };
                assertFalse(pool.submit(job).get(), "autocast left on on worker thread " + t);
            } finally {
                pool.shutdown();
            }
        }
        assertFalse(Autocast.isEnabled(CPU));
    }
}
