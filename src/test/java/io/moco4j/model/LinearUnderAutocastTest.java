package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Float32;
import io.moco4j.precision.MemoryFormat;
import io.moco4j.precision.NativeOps;
import io.moco4j.precision.Precision;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Layers#linear} on a 2-D input without bias (the MLP heads): in float32 exactly DJL's linear (the float32
 * goldens depend on it); under bf16 autocast libtorch's {@code at::linear}, or the weight-first product where this
 * libtorch lacks it ({@code heads-fallback}), which must compute the same {@code x W^T} in bf16 and hand a float32
 * gradient to the weight. The ViT's (N, L, D) with bias is checked the same way.
 */
class LinearUnderAutocastTest {
    private static final Device CPU = Device.cpu();
    private static final int OUT = 24;
    private static final int IN = 40;
    private static final NativeOps MISSING = NativeOps.load("no_such_linear_symbol", "no_such_softmax_symbol");

    /** {@code heads}: a 2-D input without bias; {@code vit}: a 3-D input with bias. */
    private static NDArray[] operands(NDManager m, String kind) {
        m.getEngine().setRandomSeed(kind.replace("-fallback", "").length()); // the fallback: the heads' operands
        boolean vit = kind.equals("vit");
        NDArray x = m.randomNormal(vit ? new Shape(4, 5, IN) : new Shape(16, IN));
        NDArray w = m.randomNormal(new Shape(OUT, IN));
        return new NDArray[] {x, w, vit ? m.randomNormal(new Shape(OUT)) : null};
    }

    @ParameterizedTest
    @ValueSource(strings = {"heads"}) // (N, L, D) with bias is folded to 2-D in every precision (LinearBf16RoundingTest)
    void float32IsDjlsLinearBitForBit(String kind) {
        try (NDManager m = NDManager.newBaseManager(CPU)) {
            NDArray[] o = operands(m, kind);
            assertArrayEquals(Linear.linear(o[0], o[1], o[2]).singletonOrThrow().toFloatArray(),
                    Layers.linear(o[0], o[1], o[2]).toFloatArray());
        }
    }

    /**
     * Both paths under autocast are a bf16 product accumulated in float32 and rounded once to bf16 (8 significant
     * bits): they may differ where their float32 accumulations differ in the last bits and round to neighbouring bf16
     * values, so the bound is one bf16 step of the largest output (2^-7 of it); a wrong transpose or bias moves values
     * by O(1). The weight gradient of sum(y) is the column sums of x (bf16-rounded), exact up to the bound below.
     */
    @ParameterizedTest
    @ValueSource(strings = {"heads", "heads-fallback", "vit"})
    void bf16ComputesTheSameProductWithAFloat32WeightGradient(String kind) {
        try (NDManager m = NDManager.newBaseManager(CPU)) {
            NDArray[] o = operands(m, kind);
            NDArray x = o[0];
            NDArray w = o[1];
            w.setRequiresGradient(true);
            float[] djl;
            float[] ours;
            DataType outType;
            Shape outShape;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray y;
                try (Autocast ignored = Autocast.enter(CPU, Precision.BF16)) {
                    djl = Float32.of(Linear.linear(x, w, o[2]).singletonOrThrow()).toFloatArray();
                    y = kind.endsWith("fallback") ? Layers.linear(x, w, o[2], () -> MISSING) : Layers.linear(x, w, o[2]);
                }
                outType = y.getDataType();
                outShape = y.getShape();
                NDArray y32 = Float32.of(y);
                ours = y32.toFloatArray();
                gc.backward(y32.sum());
            }
            assertTrue(outType == DataType.UNKNOWN || outType == DataType.BFLOAT16,
                    "the product runs in bf16 under autocast (DJL reads it as UNKNOWN), got " + outType);
            assertEquals(x.getShape().slice(0, x.getShape().dimension() - 1).add(OUT), outShape);
            float max = 0;
            for (float v : djl) {
                max = Math.max(max, Math.abs(v));
            }
            for (int i = 0; i < djl.length; i++) {
                assertEquals(djl[i], ours[i], max * 0x1p-7f, "output " + i);
            }
            NDArray grad = w.getGradient();
            assertEquals(DataType.FLOAT32, grad.getDataType(), "the weight's gradient goes back to float32");
            NDArray rows = x.reshape(-1, IN);
            float[] colSums = rows.sum(new int[] {0}).toFloatArray();
            float xmax = 0;
            for (float v : x.toFloatArray()) {
                xmax = Math.max(xmax, Math.abs(v));
            }
            // x is rounded to bf16 before the product: each of the n summands moves by at most 2^-9 of max|x|, and the
            // bf16 gradient is rounded once more (2^-9 of a sum of at most n max|x|)
            float bound = rows.getShape().get(0) * xmax * 0x1p-8f;
            float[] g = grad.toFloatArray();
            for (int r = 0; r < OUT; r++) {
                for (int c = 0; c < IN; c++) {
                    assertEquals(colSums[c], g[r * IN + c], bound, "gradient " + r + "," + c);
                }
            }
        }
    }

    /**
     * The heads' product under autocast comes back contiguous, as {@code torch.nn.Linear}'s: the next op's backward,
     * BatchNorm1d's, took 10x longer on the transposed view the weight-first product returns (BENCHMARKS.md, issue 21,
     * "the v3 heads' BatchNorm on a transposed product"). The fallback still returns the view (checked, so this test
     * tells the two routes apart).
     */
    @Test
    void theHeadsProductIsContiguousUnderAutocast() {
        try (NDManager m = NDManager.newBaseManager(CPU)) {
            NDArray[] o = operands(m, "heads");
            try (Autocast ignored = Autocast.enter(CPU, Precision.BF16)) {
                assertArrayEquals(new long[] {OUT, 1}, MemoryFormat.strides(Layers.linear(o[0], o[1], null)));
                assertArrayEquals(new long[] {1, o[0].getShape().get(0)},
                        MemoryFormat.strides(Layers.linear(o[0], o[1], null, () -> MISSING)));
            }
        }
    }
}
