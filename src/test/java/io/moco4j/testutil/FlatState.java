package io.moco4j.testutil;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Golden state dicts stored as ONE float32 vector (tensors flattened in a listed key order and concatenated, as
 * tools/golden/moco_step.py and moco_v3.py write them), and tolerance checks against live tensors.
 */
public final class FlatState {
    private FlatState() {}

    /** The [[key, shape], ...] list of a golden JSON, in order. */
    public static LinkedHashMap<String, long[]> layout(JsonNode keyShapeList) {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (JsonNode entry : keyShapeList) {
            long[] shape = new long[entry.get(1).size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = entry.get(1).get(i).asLong();
            }
            out.put(entry.get(0).asText(), shape);
        }
        return out;
    }

    /** The flattened vector split back into tensors (num_batches_tracked as int64, like torch). */
    public static Map<String, NDArray> unflatten(NpyArray flat, Map<String, long[]> layout, NDManager m) {
        float[] all = flat.toFloatArray();
        Map<String, NDArray> out = new LinkedHashMap<>();
        int offset = 0;
        for (Map.Entry<String, long[]> e : layout.entrySet()) {
            Shape shape = new Shape(e.getValue());
            int n = Math.toIntExact(shape.size());
            NDArray a = m.create(Arrays.copyOfRange(all, offset, offset + n), shape);
            out.put(e.getKey(), e.getKey().endsWith("num_batches_tracked") ? a.toType(DataType.INT64, false) : a);
            offset += n;
        }
        assertEquals(all.length, offset, "golden state length");
        return out;
    }

    /**
     * Compares every tensor of {@code actual} named in {@code layout} (after mapping the golden key through
     * {@code rename}) with the flattened golden; returns the worst difference relative to its scale.
     */
    public static double compare(String what, NpyArray flat, Map<String, long[]> layout, Map<String, NDArray> actual,
                                 java.util.function.UnaryOperator<String> rename, double tol) {
        float[] all = flat.toFloatArray();
        double worst = 0;
        int offset = 0;
        for (Map.Entry<String, long[]> e : layout.entrySet()) {
            int n = Math.toIntExact(new Shape(e.getValue()).size());
            float[] expected = Arrays.copyOfRange(all, offset, offset + n);
            offset += n;
            String key = rename.apply(e.getKey());
            NDArray a = actual.get(key);
            if (a == null) {
                fail(what + ": no tensor " + key + " (have " + actual.keySet() + ")");
            }
            assertArrayEquals(e.getValue(), a.getShape().getShape(), what + " " + key + ": shape");
            worst = Math.max(worst, assertClose(what + " " + key, expected, a, tol));
        }
        assertEquals(all.length, offset, what + ": golden vector length");
        return worst;
    }

    /** Asserts max |a - e| <= tol * max(1, max |e|) and returns that max difference divided by the scale. */
    public static double assertClose(String what, float[] e, NDArray actual, double tol) {
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        assertEquals(e.length, a.length, what + ": size");
        double scale = 1;
        for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        double worst = 0;
        int at = 0;
        for (int i = 0; i < e.length; i++) {
            double diff = Math.abs((double) a[i] - e[i]);
            if (!(diff <= worst)) {
                worst = diff;
                at = i;
            }
        }
        ToleranceReport.print(what, worst / scale, tol);
        if (!(worst <= tol * scale)) {
            fail(what + ": max abs diff " + worst + " at " + at + " (PyTorch " + e[at] + ", ours " + a[at]
                    + ") exceeds " + tol + " * " + scale);
        }
        return worst / scale;
    }

    public static NDArray toNd(NpyArray a, NDManager m) {
        return m.create(a.toFloatArray(), new Shape(a.shape()));
    }

    public static List<Double> doubles(JsonNode array) {
        List<Double> out = new java.util.ArrayList<>();
        array.forEach(v -> out.add(v.asDouble()));
        return out;
    }
}
