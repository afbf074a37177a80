package io.moco4j.precision;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;

/**
 * A dtype cast that stays in the autograd graph: libtorch's {@code Tensor::to(dtype)} ({@code at::_ops::to_dtype}),
 * whose backward hands the gradient back in the source dtype, exactly as {@code tensor.to(dtype)} in PyTorch. DJL's
 * {@code toType} runs without grad (it cuts the graph) and cannot name bf16; this is the one place that casts by hand
 * inside a recorded graph, and only where PyTorch's own code does the same cast (for example SyncBatchNorm, whose
 * output under autocast is in its input's dtype).
 *
 * <p>ABI (System V x86-64 / AArch64, as {@link Autocast}): the function returns an {@code at::Tensor} (one intrusive
 * pointer, non-trivial) through a hidden first argument; the slot comes from libstdc++'s {@code operator new}, so
 * DJL's {@code delete} of the handle later frees it with the matching allocator. {@code std::optional<MemoryFormat>}
 * is two bytes passed in a register; 0 is {@code nullopt}.
 */
public final class InGraphCast {
    private static final String TO_DTYPE =
            "_ZN2at4_ops8to_dtype4callERKNS_6TensorEN3c1010ScalarTypeEbbSt8optionalINS5_12MemoryFormatEE";
    private static final int SCALAR_FLOAT = 6;
    private static volatile Function[] functions;

    private InGraphCast() {}

    /**
     * {@code x} cast to the dtype of {@code like} when {@code like} is bf16 or fp16 (DJL reads bf16 as UNKNOWN), else
     * {@code x} itself. Attached to {@code x}'s manager.
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
        return to(x, scalar);
    }

    static NDArray to(NDArray x, int scalarType) {
        Function[] f = symbols();
        Pointer slot = f[1].invokePointer(new Object[] {8L});
        f[0].invoke(Pointer.class, new Object[] {slot, new Pointer(((PtNDArray) x).getHandle()), scalarType, 0, 0, 0});
        return new PtNDArray((PtNDManager) x.getManager(), Pointer.nativeValue(slot));
    }

    private static Function[] symbols() {
        Function[] f = functions;
        if (f == null) {
            synchronized (InGraphCast.class) {
                f = functions;
                if (f == null) {
                    NativeLibrary torch = Autocast.libtorchCpu();
                    f = new Function[] {torch.getFunction(TO_DTYPE), NativeLibrary.getProcess().getFunction("_Znwm")};
                    functions = f;
                }
            }
        }
        return f;
    }
}
