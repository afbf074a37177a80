package io.moco4j.precision;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Brings an autocast result back to float32 inside a recorded graph. DJL cannot do it: {@code toType} runs without
 * gradient (it cuts the graph) and bf16 reads as {@link DataType#UNKNOWN}, which DJL cannot name as a target.
 * Multiplying by a float32 one made by libtorch is exact (x * 1) and PyTorch's type promotion makes the product
 * float32; the backward of the product hands the gradient back in the input's dtype, as {@code x.float()} would.
 */
public final class Float32 {
    private Float32() {}

    /** {@code x} itself when it is float32 already, else {@code x} as float32 (attached to {@code x}'s manager). */
    public static NDArray of(NDArray x) {
        if (x.getDataType() == DataType.FLOAT32) {
            return x;
        }
        // A 1-element tensor with a dimension takes part in type promotion (a 0-dim one would not, next to a
        // tensor with dimensions); a 0-dim x keeps its shape with a 0-dim one.
        Shape shape = x.getShape().dimension() == 0 ? new Shape() : new Shape(1);
        try (NDArray one = x.getManager().ones(shape, DataType.FLOAT32)) {
            return x.mul(one); // libtorch's tensor: autograd's reference keeps its memory alive after close()
        }
    }

    /** Whether {@code x} is in a reduced precision (bf16 reads as UNKNOWN in DJL, fp16 as FLOAT16). */
    public static boolean isReduced(NDArray x) {
        DataType t = x.getDataType();
        return t == DataType.UNKNOWN || t == DataType.FLOAT16 || t == DataType.BFLOAT16;
    }
}
