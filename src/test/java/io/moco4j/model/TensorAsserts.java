package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.io.Npy.NpyArray;
import java.util.LinkedHashMap;
import java.util.Map;

/** Conversions from golden npy arrays and tolerance comparisons for the model tests. */
final class TensorAsserts {
    private TensorAsserts() {}

    static NDArray toNd(NpyArray a, NDManager m) {
        Shape shape = new Shape(a.shape());
        return switch (a.dtype()) {
            case "<i8" -> m.create(a.toLongArray(), shape);
            default -> m.create(a.toFloatArray(), shape);
        };
    }

    /** The entries under {@code prefix/} with the prefix removed, as NDArrays. */
    static Map<String, NDArray> group(Map<String, NpyArray> npz, String prefix, NDManager m) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, NpyArray> e : npz.entrySet()) {
            if (e.getKey().startsWith(prefix + "/")) {
                out.put(e.getKey().substring(prefix.length() + 1), toNd(e.getValue(), m));
            }
        }
        return out;
    }

    /**
     * Asserts same shape and max |actual - expected| <= tol * max(1, max |expected|) (absolute for values of
     * order 1, relative to the largest value otherwise).
     */
    static void assertClose(String what, NpyArray expected, NDArray actual, double tol) {
        assertArrayEquals(expected.shape(), actual.getShape().getShape(), what + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        double scale = 1;
        for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) a[i] - e[i]);
            if (!(d <= worst)) {
                worst = d;
                at = i;
            }
        }
        io.moco4j.testutil.ToleranceReport.print(what, worst / scale, tol);
        if (!(worst <= tol * scale)) {
            fail(what + ": max abs diff " + worst + " at " + at + " (expected " + e[at] + ", got " + a[at]
                    + ") exceeds " + tol + " * " + scale);
        }
    }
}
