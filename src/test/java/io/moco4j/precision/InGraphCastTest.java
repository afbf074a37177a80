package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

/**
 * {@link InGraphCast}: the values are float32 rounded to bf16 (nearest, ties to even: computed here bit by bit in
 * Java, not by libtorch) and the gradient flows back through the cast to the float32 leaf (DJL's toType would leave
 * the leaf without one).
 */
class InGraphCastTest {

    /** float32 rounded to bf16 (round to nearest, ties to even), back as float32. */
    static float bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int lsb = (bits >>> 16) & 1;
        return Float.intBitsToFloat((bits + 0x7FFF + lsb) & 0xFFFF0000);
    }

    @Test
    void castsToBf16InsideTheGraph() {
        // values whose low 16 bits exercise rounding down, up and both ties
        float[] v = {1.0f, Float.intBitsToFloat(0x3F808000), Float.intBitsToFloat(0x3F818000), 3.14159265f,
            -2.7182817f, 1e-3f, 12345.678f, Float.intBitsToFloat(0x3F80FFFF)};
        float[] w = {0.5f, -1f, 2f, 3f, -0.25f, 7f, 0.125f, 1.5f};
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.create(v);
            x.setRequiresGradient(true);
            NDArray weights = m.create(w);
            try (GradientCollector g = Engine.getInstance().newGradientCollector()) {
                NDArray low = InGraphCast.to(x, Autocast.SCALAR_BFLOAT16);
                assertEquals(DataType.UNKNOWN, low.getDataType(), "DJL reads bf16 as UNKNOWN");
                NDArray back = Float32.of(low);
                float[] expected = new float[v.length];
                for (int i = 0; i < v.length; i++) {
                    expected[i] = bf16(v[i]);
                }
                assertArrayEquals(expected, back.toFloatArray());
                g.backward(back.mul(weights).sum());
            }
            // d/dx sum(w * bf16(x)) = w through the cast (the cast's backward converts the bf16 gradient back;
            // these w are exact in bf16)
            assertArrayEquals(w, x.getGradient().toFloatArray());
        }
    }

    @Test
    void toTheDtypeOfAFloat32ArrayIsTheArrayItself() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.create(new float[] {1, 2});
            assertSame(x, InGraphCast.toDtypeOf(x, m.create(new float[] {3})));
        }
    }

    @Test
    void toTheDtypeOfABf16ArrayRoundsToBf16() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray x = m.create(new float[] {3.14159265f});
            NDArray bf = InGraphCast.to(m.create(new float[] {1}), Autocast.SCALAR_BFLOAT16);
            NDArray y = InGraphCast.toDtypeOf(x, bf);
            assertEquals(DataType.UNKNOWN, y.getDataType());
            assertEquals(bf16(3.14159265f), Float32.of(y).toFloatArray()[0]);
        }
    }
}
