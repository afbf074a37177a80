package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.LossScaler;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * fp16 dynamic loss scaling in the real step ({@code MomentumContrast.train}), in main_moco.py's order:
 * {@code scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()}. The expected scales are
 * GradScaler's documented rule (back-off x0.5 and skip on an inf/NaN gradient, x2 after {@code growth_interval}
 * clean steps in a row), written out here, not read from the code under test. libtorch 2.7.1's CPU autocast accepts
 * float16 (AutocastSupport's probe passes on this CPU), so fp16 runs on a CPU too.
 */
class Fp16LossScalingTest {
    private static final Device CPU = Device.cpu();

    @Test
    void aForcedOverflowSkipsTheOptimizerStepAndBacksOffAsGradScaler() {
        MocoConfig cfg = Float32StateTest.tiny("cpu-small-v3");
        try (NDManager root = NDManager.newBaseManager(CPU);
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            assertEquals(Precision.FP16, AutocastSupport.require(CPU, Precision.FP16), "CPU autocast accepts float16");
            moco.setPrecision(Precision.FP16);
            assertNotNull(moco.lossScaler(), "fp16 scales the loss");
            assertEquals(65536.0, moco.lossScaler().scale(), "GradScaler's initial scale 2^16");
            // growth after 2 clean steps, so that the sequence shows a growth within a few steps
            moco.setLossScaler(new LossScaler(1024, 2.0, 0.5, 2));

            // step 0: clean at 2^10 (a tiny model's fp16 gradients x 1024 stay far below fp16's 65504)
            float[] q0 = query(moco);
            step(moco, opt, 0);
            assertFalse(moco.lastStepSkipped(), "clean step");
            assertEquals(1, opt.stepCount(), "the optimizer stepped");
            assertEquals(1024.0, moco.lossScaler().scale());
            assertEquals(1L, moco.lossScaler().stateDict().get("_growth_tracker"));
            assertFalse(java.util.Arrays.equals(q0, query(moco)), "a clean step changes the weights");

            // step 1: forced overflow. A scale of 2^120 makes every fp16 gradient inf (the loss itself stays finite:
            // a loss of a few units x 2^120 < float32's 3.4e38). Set through GradScaler's state, the seam torch has too.
            Map<String, Object> huge = new LinkedHashMap<>(moco.lossScaler().stateDict());
            huge.put("scale", Math.pow(2, 120));
            moco.lossScaler().loadStateDict(huge);
            float[] q1 = query(moco);
            float[] k1 = key(moco);
            MomentumContrast.StepResult r = step(moco, opt, 1);
            assertTrue(Float.isFinite(r.loss()), "the reported loss is the unscaled one: " + r.loss());
            assertTrue(moco.lastStepSkipped(), "an inf gradient skips the step");
            assertArrayEquals(q1, query(moco), "weights unchanged on the skipped step");
            assertEquals(1, opt.stepCount(), "the optimizer did not step (its state did not advance)");
            assertEquals(Math.pow(2, 119), moco.lossScaler().scale(), "back-off x0.5");
            assertEquals(0L, moco.lossScaler().stateDict().get("_growth_tracker"), "the clean-step count restarts");
            // the official moco-v3 updates the momentum encoder inside forward, before scaler.step: not undone
            assertFalse(java.util.Arrays.equals(k1, key(moco)), "the momentum update of the skipped step happened");

            // steps 2 and 3: back at 2^10, two clean steps in a row grow the scale to 2^11 at the second
            Map<String, Object> normal = new LinkedHashMap<>(moco.lossScaler().stateDict());
            normal.put("scale", 1024.0);
            moco.lossScaler().loadStateDict(normal);
            step(moco, opt, 2);
            assertFalse(moco.lastStepSkipped());
            assertEquals(1024.0, moco.lossScaler().scale(), "one clean step: no growth yet");
            step(moco, opt, 3);
            assertFalse(moco.lastStepSkipped());
            assertEquals(2048.0, moco.lossScaler().scale(), "growth x2 after growth_interval (2) clean steps");
            assertEquals(0L, moco.lossScaler().stateDict().get("_growth_tracker"));
            assertEquals(3, opt.stepCount());
            assertFalse(Autocast.isEnabled(CPU));
        }
    }

    @Test
    void onlyFp16ScalesTheLoss() {
        MocoConfig cfg = Float32StateTest.tiny("cpu-small");
        try (NDManager root = NDManager.newBaseManager(CPU); MomentumContrast moco = MethodFactory.fresh(cfg, root)) {
            assertNull(moco.lossScaler(), "fp32");
            moco.setPrecision(Precision.BF16);
            assertNull(moco.lossScaler(), "bf16 has float32's exponent range: no loss scaling (as main_moco.py on bf16)");
            moco.setPrecision(Precision.FP16);
            assertNotNull(moco.lossScaler());
        }
    }

    private static MomentumContrast.StepResult step(MomentumContrast moco, Optimizer opt, long s) {
        try (NDManager step = moco.manager().newSubManager()) {
            NDArray[] v = Float32StateTest.views(step, s);
            return moco.train(v[0], v[1], s, opt, 0.05, 0.9);
        }
    }

    private static float[] query(MomentumContrast moco) {
        return flat(moco.trainableParameters());
    }

    private static float[] key(MomentumContrast moco) {
        return flat(moco.encoderK().parameters());
    }

    private static float[] flat(Map<String, NDArray> params) {
        return params.values().stream().map(NDArray::toFloatArray)
                .reduce(new float[0], (a, b) -> {
                    float[] c = java.util.Arrays.copyOf(a, a.length + b.length);
                    System.arraycopy(b, 0, c, a.length, b.length);
                    return c;
                });
    }
}
