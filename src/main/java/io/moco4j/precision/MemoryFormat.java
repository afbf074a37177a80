package io.moco4j.precision;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;

/**
 * libtorch's memory formats for 4-D tensors, reached through JNA (DJL 0.36 has no memory-format API). A
 * channels_last (NHWC in memory, NCHW in shape) input makes libtorch's oneDNN convolution compute in NHWC, and
 * BatchNorm, ReLU and add keep the format, so converting only a ResNet's input image batch carries it through the
 * network, as {@code x.to(memory_format=torch.channels_last)} does in PyTorch.
 *
 * <p>Calling convention (SysV x86-64, checked by MemoryFormatTest): {@code at::_ops::contiguous::call(at::Tensor
 * const&, c10::MemoryFormat)} returns an {@code at::Tensor} (one intrusive pointer, 8 bytes, not trivially copyable) by
 * value, so the caller passes the address of the result first. DJL's array handle is a pointer to a heap
 * {@code at::Tensor} that DJL frees with {@code delete}; the result's 8 bytes therefore come from libstdc++'s
 * {@code operator new} ({@code _Znwm}), so DJL's {@code delete} matches. {@code c10::MemoryFormat} is an int8 enum:
 * Contiguous 0, Preserve 1, ChannelsLast 2, passed as an {@code Integer} like Autocast's enums.
 *
 * <p>When libtorch does not export these symbols (another version) or the array is not a PyTorch one, {@link
 * #channelsLast} returns its input unchanged: the format is a speed choice, never a change of the result.
 */
public final class MemoryFormat {
    static final int CONTIGUOUS = 0;
    static final int CHANNELS_LAST = 2;
    static final String CONTIGUOUS_CALL = "_ZN2at4_ops10contiguous4callERKNS_6TensorEN3c1012MemoryFormatE";
    static final String STRIDE_CALL = "_ZN2at4_ops10stride_int4callERKNS_6TensorEl";
    static final String OPERATOR_NEW = "_Znwm";

    private static volatile Symbols symbols;

    private MemoryFormat() {}

    /**
     * {@code x} as a channels_last copy attached to {@code x}'s manager (recorded by autograd like any op), or
     * {@code x} itself when it is not a 4-D PyTorch array or libtorch lacks the symbols. The caller closes the result
     * only when it is not {@code x}.
     */
    public static NDArray channelsLast(NDArray x) {
        return convert(x, CHANNELS_LAST);
    }

    /** {@code x} as a default-contiguous (NCHW) copy, or {@code x} itself when unavailable (see {@link #channelsLast}). */
    public static NDArray contiguous(NDArray x) {
        return convert(x, CONTIGUOUS);
    }

    /** Whether libtorch exports what this class calls (false: {@link #channelsLast} returns its input). */
    public static boolean available() {
        return symbols().ok();
    }

    /**
     * libtorch's strides of {@code x} in elements (for checks and tests: DJL does not expose them), or null when
     * unavailable.
     */
    public static long[] strides(NDArray x) {
        Symbols s = symbols();
        if (!s.ok() || !(x instanceof PtNDArray p)) {
            return null;
        }
        long[] out = new long[x.getShape().dimension()];
        for (int d = 0; d < out.length; d++) {
            out[d] = s.stride.invokeLong(new Object[] {new Pointer(p.getHandle()), (long) d});
        }
        return out;
    }

    /** Whether {@code x} (N, C, H, W) is laid out channels_last: channels innermost, then W, then H. */
    public static boolean isChannelsLast(NDArray x) {
        long[] st = strides(x);
        if (st == null || st.length != 4) {
            return false;
        }
        long c = x.getShape().get(1);
        long w = x.getShape().get(3);
        return st[1] == 1 && st[3] == c && st[2] == c * w;
    }

    private static NDArray convert(NDArray x, int format) {
        Symbols s = symbols();
        if (!s.ok() || !(x instanceof PtNDArray p) || x.getShape().dimension() != 4
                || !(x.getManager() instanceof PtNDManager m)) {
            return x; // contiguous(ChannelsLast) throws on other ranks; a C++ exception through JNA would abort the JVM
        }
        Pointer result = s.operatorNew.invokePointer(new Object[] {8L});
        s.contiguous.invokeVoid(new Object[] {result, new Pointer(p.getHandle()), format});
        return new PtNDArray(m, Pointer.nativeValue(result));
    }

    private static Symbols symbols() {
        Symbols s = symbols;
        if (s == null) {
            synchronized (MemoryFormat.class) {
                s = symbols;
                if (s == null) {
                    s = Symbols.load(CONTIGUOUS_CALL);
                    symbols = s;
                }
            }
        }
        return s;
    }

    /** The three functions, or none of them ({@link #ok} false) when libtorch does not export one. */
    record Symbols(Function contiguous, Function stride, Function operatorNew) {
        boolean ok() {
            return contiguous != null;
        }

        /** {@code contiguousName} is a parameter so that a test can ask for a symbol that does not exist. */
        static Symbols load(String contiguousName) {
            try {
                NativeLibrary lib = Autocast.libtorchCpu();
                return new Symbols(lib.getFunction(contiguousName), lib.getFunction(STRIDE_CALL),
                        lib.getFunction(OPERATOR_NEW));
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                return new Symbols(null, null, null);
            }
        }
    }

    /** For tests: replaces the symbols (null: load them again on next use). */
    static void useSymbols(Symbols s) {
        symbols = s;
    }
}
