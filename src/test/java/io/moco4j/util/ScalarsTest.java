package io.moco4j.util;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import io.moco4j.testutil.FreedNativeMemory;
import org.junit.jupiter.api.Test;

class ScalarsTest {
    private static final float[] X = {-3.5f, -1e-13f, 0f, 1e-13f, 0.1f, 7.25f};

    @Test
    void valuesAreBitForBitThoseOfDjlsNumberOps() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(X);
            double c = 1.0 / Math.sqrt(8); // not exact in float: both round it the same way
            assertArrayEquals(x.mul((float) c).toFloatArray(), Scalars.mul(x, c).toFloatArray());
            assertArrayEquals(x.div(0.2f).toFloatArray(), Scalars.div(x, 0.2).toFloatArray());
            assertArrayEquals(x.maximum(1e-12f).toFloatArray(), Scalars.maximum(x, 1e-12).toFloatArray());
            NDArray r = Scalars.mul(x, 2);
            assertEquals(DataType.FLOAT32, r.getDataType());
            assertEquals(x.getDevice(), r.getDevice());
            assertEquals(x.getShape(), r.getShape());
        }
    }

    @Test
    void gradientsAreRightAfterAGcBetweenForwardAndBackward() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, 2, 3});
            x.setRequiresGradient(true);
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray y = Scalars.div(Scalars.mul(x, 3), 0.5).sum(); // d/dx = 3 / 0.5 = 6
                try (FreedNativeMemory ignored = FreedNativeMemory.poisonFreedBlocks()) {
                    gc.backward(y);
                }
            }
            assertArrayEquals(new float[] {6, 6, 6}, x.getGradient().toFloatArray());
        }
    }
}
