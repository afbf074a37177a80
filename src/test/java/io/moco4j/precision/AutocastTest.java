package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.util.Scalars;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The JNA binding of libtorch's autocast: the scope does what torch.autocast's enter/exit do, per thread. */
class AutocastTest {
    private static final Device CPU = Device.cpu();

    @Test
    void enterSetsBf16AndCloseRestoresOff() {
        assertFalse(Autocast.isEnabled(CPU));
        try (Autocast ignored = Autocast.enter(CPU, Precision.BF16)) {
            assertTrue(Autocast.isEnabled(CPU));
            assertEquals(Precision.BF16, Autocast.dtype(CPU));
        }
        assertFalse(Autocast.isEnabled(CPU));
    }

    @Test
    void fp32TouchesNothing() {
        try (Autocast ignored = Autocast.enter(CPU, Precision.FP32)) {
            assertFalse(Autocast.isEnabled(CPU));
        }
    }

    @Test
    void nestedScopesAndADisabledRegionRestoreTheOuterState() {
        try (Autocast outer = Autocast.enter(CPU, Precision.BF16)) {
            try (Autocast off = Autocast.disabled(CPU, Precision.BF16)) {
                assertFalse(Autocast.isEnabled(CPU));
                try (Autocast inner = Autocast.enter(CPU, Precision.FP16)) {
                    assertEquals(Precision.FP16, Autocast.dtype(CPU));
                    assertTrue(Autocast.isEnabled(CPU));
                }
                assertFalse(Autocast.isEnabled(CPU));
            }
            assertTrue(Autocast.isEnabled(CPU));
            assertEquals(Precision.BF16, Autocast.dtype(CPU));
        }
        assertFalse(Autocast.isEnabled(CPU));
    }

    @Test
    void stateIsPerThreadAndAScopeClosesOnlyOnItsThread() throws Exception {
        try (Autocast scope = Autocast.enter(CPU, Precision.BF16)) {
            assertFalse(CompletableFuture.supplyAsync(() -> Autocast.isEnabled(CPU)).get(), "another thread sees it off");
            Exception e = CompletableFuture.supplyAsync(() -> assertThrows(IllegalStateException.class, scope::close)).get();
            assertTrue(e.getMessage().contains("thread"), e.getMessage());
            assertTrue(Autocast.isEnabled(CPU), "a refused close changes nothing");
        }
        assertFalse(Autocast.isEnabled(CPU));
    }

    @Test
    void matmulRunsInBf16AndFloat32OfBringsItBackInsideTheGraph() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.randomNormal(new Shape(4, 8));
            NDArray b = m.randomNormal(new Shape(8, 3));
            a.setRequiresGradient(true);
            NDArray expectedGrad;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray y;
                try (Autocast ignored = Autocast.enter(CPU, Precision.BF16)) {
                    y = a.matMul(b);
                    assertEquals(DataType.UNKNOWN, y.getDataType(), "bf16 reads as UNKNOWN in DJL");
                    NDArray scaled = Scalars.mul(y, 0.5); // must not abort the JVM on a bf16 input
                    assertEquals(DataType.UNKNOWN, scaled.getDataType(), "a 0-dim float32 constant keeps it bf16");
                }
                NDArray f = Float32.of(y);
                assertEquals(DataType.FLOAT32, f.getDataType());
                assertEquals(y.getShape(), f.getShape());
                for (float v : f.toFloatArray()) {
                    assertEquals(0, Float.floatToRawIntBits(v) & 0xFFFF, "a bf16 value has 16 zero low bits: " + v);
                }
                gc.backward(f.sum());
            }
            // d sum(a b) / d a = ones b^T: each row is b's row sums, rounded to bf16 in the backward of a bf16 matmul
            expectedGrad = m.ones(new Shape(4, 3)).matMul(b.transpose());
            assertEquals(DataType.FLOAT32, a.getGradient().getDataType(), "the float32 leaf gets a float32 gradient");
            float[] g = a.getGradient().toFloatArray();
            float[] e = expectedGrad.toFloatArray();
            for (int i = 0; i < g.length; i++) {
                assertEquals(e[i], g[i], 0.02 * Math.max(1, Math.abs(e[i])), "gradient " + i);
            }
        }
    }

    @Test
    void outsideAutocastEverythingStaysFloat32() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray y = m.randomNormal(new Shape(2, 2)).matMul(m.randomNormal(new Shape(2, 2)));
            assertEquals(DataType.FLOAT32, y.getDataType());
            float[] before = y.toFloatArray();
            assertArrayEquals(before, Float32.of(y).toFloatArray());
        }
        assertNull(Autocast.isEnabled(CPU) ? Precision.BF16 : null);
    }
}
