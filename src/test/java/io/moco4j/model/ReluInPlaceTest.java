package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import io.moco4j.precision.NativeOps;
import org.junit.jupiter.api.Test;

/**
 * The in-place ReLU of the ResNet blocks ({@link Layers#reluReplacing}, libtorch's {@code relu_} through
 * {@link NativeOps}): it overwrites its input, and the values and the gradient that reaches an earlier leaf are the
 * out-of-place ReLU's bit for bit (autograd records it, so the backward is not cut). When it may not overwrite (SyncBN's
 * leaf outputs, split BN's views) it makes a new array.
 */
class ReluInPlaceTest {
    private static final Device CPU = Device.cpu();

    @Test
    void inPlaceReluOverwritesItsInputAndKeepsValuesAndGradients() {
        assertFalse(NativeOps.get().reluInPlace(null), "a non-PyTorch array is declined, not passed to JNA");
        float[][] inPlace = run(true);
        float[][] outOfPlace = run(false);
        assertArrayEquals(outOfPlace[0], inPlace[0], 0f);
        assertArrayEquals(outOfPlace[1], inPlace[1], 0f);
        boolean anyNegative = false;
        for (float g : inPlace[1]) {
            anyNegative |= g == 0f;
        }
        assertTrue(anyNegative, "some inputs were negative, so the ReLU's backward had something to mask");
    }

    @Test
    void withoutPermissionANewArrayIsMade() {
        try (NDManager m = NDManager.newBaseManager(CPU)) {
            NDArray x = m.create(new float[] {-1f, 2f, -3f, 4f});
            NDArray r = Layers.reluReplacing(x, false);
            assertNotSame(x, r);
            assertArrayEquals(new float[] {0f, 2f, 0f, 4f}, r.toFloatArray(), 0f);
            assertTrue(x.isReleased(), "the input is used up either way: closed when a new array was made");
            NDArray y = m.create(new float[] {-1f, 2f, -3f, 4f});
            NDArray same = Layers.reluReplacing(y, true);
            assertSame(y, same, "with permission the ReLU runs in the input itself");
            assertArrayEquals(new float[] {0f, 2f, 0f, 4f}, y.toFloatArray(), 0f);
        }
    }

    /** relu(w * 3) summed with weights, in place or not: {values, d loss / d w}. */
    private static float[][] run(boolean inPlace) {
        try (NDManager m = NDManager.newBaseManager(CPU)) {
            Engine.getInstance().setRandomSeed(11);
            NDArray w = m.randomNormal(new Shape(4, 8, 5, 5));
            NDArray c = m.randomNormal(new Shape(4, 8, 5, 5));
            w.setRequiresGradient(true);
            float[] values;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray h = w.mul(3f); // a non-leaf, like a BN output
                NDArray r = inPlace ? Layers.reluReplacing(h, true) : Activation.relu(h);
                if (inPlace) {
                    assertSame(h, r);
                }
                values = r.toFloatArray();
                gc.backward(r.mul(c).sum());
            }
            float[] grad = w.getGradient().toFloatArray();
            assertEquals(w.size(), grad.length);
            return new float[][] {values, grad};
        }
    }
}
