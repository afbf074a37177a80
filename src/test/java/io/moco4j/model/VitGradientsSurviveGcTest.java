package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.testutil.FreedNativeMemory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A garbage collection between a ViT forward and its backward must not change any gradient. It did: attention's
 * {@code q * head_dim^-0.5} went through DJL's {@code mul(Number)}, whose scalar tensor borrows a direct buffer that
 * is freed after the op; autograd reads that scalar again in the backward. This is what made a second MoCo_ViT
 * replay in one JVM differ from the first (docs/ISSUES-FOUND.md, "Explained").
 */
class VitGradientsSurviveGcTest {

    @Test
    void everyGradientIsTheSameAfterAGc() {
        Map<String, float[]> undisturbed = gradients(false);
        Map<String, float[]> afterGc = gradients(true);
        undisturbed.forEach((k, g) -> assertArrayEquals(g, afterGc.get(k), "gradient of " + k + " after a GC"));
    }

    private static Map<String, float[]> gradients(boolean gcBeforeBackward) {
        try (NDManager m = NDManager.newBaseManager();
                VisionTransformer vit = VisionTransformer.create(new VitSpec(16, 4, 16, 2, 2, 4, true), m, 7)) {
            vit.trainableParameters().values().forEach(p -> p.setRequiresGradient(true));
            NDArray x = random(m, 1, new Shape(2, 3, 16, 16));
            NDArray r = random(m, 2, new Shape(2, 16));
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray loss = vit.forward(x, true).mul(r).sum();
                if (gcBeforeBackward) {
                    try (FreedNativeMemory ignored = FreedNativeMemory.poisonFreedBlocks()) {
                        gc.backward(loss);
                    }
                } else {
                    gc.backward(loss);
                }
            }
            Map<String, float[]> out = new LinkedHashMap<>();
            vit.trainableParameters().forEach((k, p) -> {
                try (NDArray g = p.getGradient()) {
                    out.put(k, g.toFloatArray());
                }
            });
            return out;
        }
    }

    private static NDArray random(NDManager m, long seed, Shape shape) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        return m.create(v, shape);
    }
}
