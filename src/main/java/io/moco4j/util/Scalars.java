package io.moco4j.util;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Arithmetic with a constant that is safe inside a {@code GradientCollector}. Use these, never DJL's
 * {@code x.mul(Number)} / {@code x.div(Number)} (nor {@code maximum}, {@code pow}, ... with a Number), on any array
 * that records gradients.
 *
 * <p>Why: DJL 0.36 turns the Number into a 0-dim tensor made with {@code torch::from_blob} over a Java direct
 * buffer (the tensor borrows the buffer's memory; only the Java array keeps the buffer alive) and closes it right
 * after the op. Autograd keeps that tensor for the backward ({@code grad * c}, {@code grad / c}); once a garbage
 * collection has freed the buffer, the backward reads freed memory: whatever malloc put there since, often
 * another scalar, sometimes NaN. How likely that is depends on GC timing, so a long-lived process (a second run in
 * one JVM, any training whose loader keeps the GC busy) gets wrong gradients now and then. Here the constant is
 * made by libtorch ({@code torch::full}), so autograd's reference keeps its memory alive. The value, dtype and
 * device are those DJL would use, so results are bit for bit the same.
 */
public final class Scalars {
    private Scalars() {}

    /** {@code x * c}, attached to {@code x}'s manager. */
    public static NDArray mul(NDArray x, double c) {
        try (NDArray s = constant(x, c)) {
            return x.mul(s);
        }
    }

    /** {@code x / c}, attached to {@code x}'s manager. */
    public static NDArray div(NDArray x, double c) {
        try (NDArray s = constant(x, c)) {
            return x.div(s);
        }
    }

    /** {@code max(x, c)} elementwise, attached to {@code x}'s manager. */
    public static NDArray maximum(NDArray x, double c) {
        try (NDArray s = constant(x, c)) {
            return x.maximum(s);
        }
    }

    /** A 0-dim array of {@code x}'s dtype holding {@code c} (rounded to float first, as DJL does with a float). */
    private static NDArray constant(NDArray x, double c) {
        return x.getManager().full(new Shape(), (float) c, x.getDataType());
    }
}
