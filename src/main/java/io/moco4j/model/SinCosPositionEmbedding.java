package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The fixed 2-D sin-cos position embedding of MoCo v3 ({@code build_2d_sincos_position_embedding} in vits.py),
 * shape (1, 1 + rows * cols, D): an all-zero vector for the cls token, then per patch token four quarters of D,
 * {@code sin(a w), cos(a w), sin(b w), cos(b w)} with {@code w_k = 1 / 10000^(k / (D/4))}.
 *
 * <p>The official code takes {@code meshgrid(arange(cols), arange(rows))} (ij indexing) and flattens it, so token
 * m gets {@code a = m / rows} and {@code b = m % rows}. For the square grids it is used with that is (row,
 * column) of the row-major patch order; for a non-square grid it is not, and we keep the official formula so a
 * model built for any size equals vits.py's. The arithmetic is float32 as torch's (each product rounded to
 * float before its sine), so values agree with the official tensor to about one ulp.
 */
final class SinCosPositionEmbedding {
    static final double TEMPERATURE = 10000.0;

    private SinCosPositionEmbedding() {}

    /** The embedding as a new (1, 1 + rows * cols, dim) float32 array in {@code manager}. */
    static NDArray create(NDManager manager, int rows, int cols, int dim) {
        return manager.create(values(rows, cols, dim), new Shape(1, 1L + (long) rows * cols, dim));
    }

    /** Row-major values of {@link #create}. */
    static float[] values(int rows, int cols, int dim) {
        if (dim % 4 != 0) {
            throw new IllegalArgumentException("sin-cos position embedding needs a width divisible by 4, got " + dim);
        }
        int q = dim / 4;
        float[] omega = new float[q];
        for (int k = 0; k < q; k++) {
            omega[k] = 1f / (float) Math.pow(TEMPERATURE, (float) k / q);
        }
        int patches = rows * cols;
        float[] out = new float[(patches + 1) * dim]; // token 0 (cls) stays zero
        for (int m = 0; m < patches; m++) {
            int a = m / rows;
            int b = m % rows;
            int base = (m + 1) * dim;
            for (int k = 0; k < q; k++) {
                float ta = a * omega[k];
                float tb = b * omega[k];
                out[base + k] = (float) Math.sin(ta);
                out[base + q + k] = (float) Math.cos(ta);
                out[base + 2 * q + k] = (float) Math.sin(tb);
                out[base + 3 * q + k] = (float) Math.cos(tb);
            }
        }
        return out;
    }
}
