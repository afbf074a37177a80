package io.moco4j.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.testutil.FreedNativeMemory;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * A garbage collection between a loss's forward and its backward must not change the gradient. It did: DJL's
 * {@code x.div(0.2f)} makes the 0.2 a tensor that borrows a direct buffer's memory and closes it right after the
 * op, autograd keeps that tensor for the backward, and once the JDK had freed the buffer the backward divided by
 * whatever the memory held by then (docs/ISSUES-FOUND.md, "Explained").
 */
class LossGradientsSurviveGcTest {

    @Test
    void infoNceGradientIsTheSameAfterAGc() {
        assertSameGradientAfterGc((q, m) -> {
            NDArray k = InfoNce.normalize(random(m, 2, new Shape(4, 8)));
            NDArray queue = InfoNce.normalize(random(m, 3, new Shape(6, 8)));
            return InfoNce.loss(InfoNce.normalize(q), k, queue, 0.2);
        });
    }

    @Test
    void inBatchContrastiveGradientIsTheSameAfterAGc() {
        assertSameGradientAfterGc((q, m) -> InBatchContrastive.loss(q, random(m, 2, new Shape(4, 8)), 0.2));
    }

    private static void assertSameGradientAfterGc(BiFunction<NDArray, NDManager, NDArray> loss) {
        float[] undisturbed = gradient(loss, false);
        float[] afterGc = gradient(loss, true);
        assertArrayEquals(undisturbed, afterGc, "gradient after a GC between forward and backward");
    }

    private static float[] gradient(BiFunction<NDArray, NDManager, NDArray> loss, boolean gcBeforeBackward) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = random(m, 1, new Shape(4, 8));
            q.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray l = loss.apply(q, m);
                if (gcBeforeBackward) {
                    try (FreedNativeMemory ignored = FreedNativeMemory.poisonFreedBlocks()) {
                        gc.backward(l);
                    }
                } else {
                    gc.backward(l);
                }
            }
            return q.getGradient().toFloatArray();
        }
    }

    static NDArray random(NDManager m, long seed, Shape shape) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return m.create(v, shape);
    }
}
