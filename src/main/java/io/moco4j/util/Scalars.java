package io.moco4j.util;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
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

    /**
     * A 0-dim array of {@code x}'s dtype holding {@code c} (rounded to float first, as DJL does with a float). A bf16
     * {@code x} (an autocast result) reads as {@code UNKNOWN} in DJL, and creating an array of that dtype aborts the
     * JVM; its constant is a 0-dim float32 instead, which leaves the result bf16 (PyTorch's type promotion lets a
     * 0-dim operand of the same category not widen a tensor with dimensions), as {@code x * c} in Python.
     */
    private static NDArray constant(NDArray x, double c) {
        DataType type = x.getDataType() == DataType.UNKNOWN ? DataType.FLOAT32 : x.getDataType();
        return x.getManager().full(new Shape(), (float) c, type);
    }
}
