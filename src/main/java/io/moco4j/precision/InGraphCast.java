package io.moco4j.precision;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * A dtype cast that stays in the autograd graph: libtorch's {@code Tensor::to(dtype)} through {@link NativeOps}, whose
 * backward hands the gradient back in the source dtype, exactly as {@code tensor.to(dtype)} in PyTorch. DJL's
 * {@code toType} runs without grad (it cuts the graph) and cannot name bf16. Used only where PyTorch's own code makes
 * the same cast (SyncBatchNorm, whose output under autocast is in its input's dtype).
 */
public final class InGraphCast {
    static final int SCALAR_FLOAT = 6;

    private InGraphCast() {}

    /**
     * {@code x} cast to the dtype of {@code like} (DJL reads bf16 as UNKNOWN), attached to {@code x}'s manager; {@code x}
     * itself when the dtypes are equal, or when this libtorch/platform has no {@link NativeOps#toDtype} (then the result
     * keeps {@code x}'s dtype: one rounding fewer than PyTorch, never a wrong value).
     */
    public static NDArray toDtypeOf(NDArray x, NDArray like) {
        DataType want = like.getDataType();
        if (want == x.getDataType() && want != DataType.UNKNOWN) {
            return x;
        }
        int scalar = switch (want) {
            case FLOAT16 -> Autocast.SCALAR_HALF;
            case UNKNOWN -> Autocast.SCALAR_BFLOAT16; // the only other dtype autocast produces
            case FLOAT32 -> SCALAR_FLOAT;
            default -> throw new IllegalArgumentException("no in-graph cast to " + want);
        };
        NDArray cast = to(x, scalar);
        return cast == null ? x : cast;
    }

    /** {@code x} in {@code scalarType} inside the graph, or null without {@link NativeOps#toDtype}. */
    static NDArray to(NDArray x, int scalarType) {
        return NativeOps.get().toDtype(x, scalarType);
    }
}
