package io.moco4j.precision;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.util.function.UnaryOperator;

/**
 * ATen ops that DJL 0.36 lacks or runs differently from PyTorch, called through JNA like {@link Autocast} (nothing to
 * compile): the cast {@code Tensor::to(dtype)} inside the graph ({@link InGraphCast}), {@code contiguous(memory_format)}
 * and {@code stride} ({@link MemoryFormat}), the in-place {@code relu_} DJL lacks (the ResNet's blocks), and two ops
 * whose DJL versions behave differently under autocast:
 * <ul>
 * <li>{@code at::linear} ({@code torch.nn.functional.linear}). DJL runs libtorch's C++ {@code nn::functional::linear},
 * i.e. {@code addmm(b, x, W.t())}: autocast then casts the view {@code W.t()}, which it never caches (only leaves are
 * cached), so every pass casts every weight again and the backward converts each bf16 weight gradient back in the
 * transposed layout. Through {@code at::linear} the autocast kernel casts the leaf weight (cached for the scope) and
 * the op decomposes as in PyTorch, with autograd recording it like any dispatched op.</li>
 * <li>{@code at::softmax(x, dim)} without a dtype. DJL's softmax always names the output dtype, and a bf16 input reads
 * as UNKNOWN there (the JVM aborts), so the attention softmax used to run on a float32 copy and be cast back. Under
 * {@code torch.autocast} CPU softmax is on neither list: bf16 in, bf16 out, as called here.</li>
 * </ul>
 *
 * <p>Calling convention (Linux x86-64, SysV ABI, libstdc++; elsewhere no op is available and callers keep DJL's): a
 * DJL handle is the address of a heap {@code at::Tensor}
 * ({@code new torch::Tensor(...)}, freed by DJL with {@code delete}); an {@code at::Tensor} is one intrusive pointer
 * (8 bytes), so {@code const Tensor&} is the handle itself. The ops are the exported dispatcher entries
 * {@code at::_ops::linear::call} and {@code at::_ops::softmax_int::call} ({@code at::linear}/{@code at::softmax} are
 * inline wrappers of them; {@code to_dtype} and {@code contiguous} are called the same way). They return an
 * {@code at::Tensor} by value, a class with a non-trivial destructor, so the caller passes the result's address as a
 * hidden first argument: we allocate it with libstdc++'s {@code operator new} so DJL's {@code delete} of the handle
 * matches. {@code const std::optional<Tensor>&} points to
 * 16 bytes: the tensor's intrusive pointer, then the engaged flag (libstdc++'s {@code _Optional_payload}); it only
 * borrows the bias's pointer for the call, so no reference count changes hands. {@code std::optional<ScalarType>} by
 * value is 2 bytes in one register: 0 is {@code nullopt}.
 *
 * <p>A C++ exception cannot cross JNA (it would abort the JVM), so the Java side checks what libtorch would refuse
 * (shapes, devices, mixed dtypes outside autocast) before calling and otherwise declines ({@link #linear} returns
 * null). AArch64 passes the result's address in x8, not as an argument, hence the platform check.
 */
public final class NativeOps {
    static final String LINEAR = "_ZN2at4_ops6linear4callERKNS_6TensorES4_RKSt8optionalIS2_E";
    static final String SOFTMAX = "_ZN2at4_ops11softmax_int4callERKNS_6TensorElSt8optionalIN3c1010ScalarTypeEE";
    /** {@code Tensor::contiguous(MemoryFormat)} and {@code Tensor::stride(dim)}: {@link MemoryFormat}. */
    static final String CONTIGUOUS = "_ZN2at4_ops10contiguous4callERKNS_6TensorEN3c1012MemoryFormatE";
    static final String STRIDE = "_ZN2at4_ops10stride_int4callERKNS_6TensorEl";
    /** {@code Tensor::relu_()}: torchvision's {@code ReLU(inplace=True)}, {@link #reluInPlace}. */
    static final String RELU_ = "_ZN2at4_ops5relu_4callERNS_6TensorE";
    /** {@code Tensor::to(ScalarType, non_blocking, copy, optional<MemoryFormat>)}: {@link InGraphCast}. */
    static final String TO_DTYPE =
            "_ZN2at4_ops8to_dtype4callERKNS_6TensorEN3c1010ScalarTypeEbbSt8optionalINS5_12MemoryFormatEE";
    private static final String OPERATOR_NEW = "_Znwm";
    private static final String OPERATOR_DELETE = "_ZdlPv";

    private static volatile NativeOps shared;
    /** The 16-byte {@code std::optional<Tensor>} of {@link #linear}, one per thread (only read during the call). */
    private static final ThreadLocal<Memory> OPTIONAL_BIAS = ThreadLocal.withInitial(() -> new Memory(16));

    private final Function linear;
    private final Function softmax;
    private final Function toDtype;
    private final Function contiguous;
    private final Function stride;
    private final Function reluInPlace;
    private final Function operatorNew;
    private final Function operatorDelete;

    private NativeOps(NativeLibrary lib, UnaryOperator<String> symbol) {
        if (!(Platform.isLinux() && Platform.isIntel() && Platform.is64Bit())) {
            lib = null; // the hidden-result-argument convention and libstdc++'s layouts above are x86-64 Linux's
        }
        Function n = find(lib, OPERATOR_NEW);
        Function d = find(lib, OPERATOR_DELETE);
        boolean alloc = n != null && d != null;
        operatorNew = n;
        operatorDelete = d;
        linear = alloc ? find(lib, symbol.apply(LINEAR)) : null;
        softmax = alloc ? find(lib, symbol.apply(SOFTMAX)) : null;
        toDtype = alloc ? find(lib, symbol.apply(TO_DTYPE)) : null;
        contiguous = alloc ? find(lib, symbol.apply(CONTIGUOUS)) : null;
        stride = find(lib, symbol.apply(STRIDE)); // returns a plain int64: no result slot needed
        reluInPlace = find(lib, symbol.apply(RELU_)); // returns Tensor&, i.e. a pointer: no result slot either
    }

    /** The ops of the libtorch DJL loaded; an instance that can run neither when it exports none of them. */
    public static NativeOps get() {
        NativeOps s = shared;
        if (s == null) {
            synchronized (NativeOps.class) {
                s = shared;
                if (s == null) {
                    s = new NativeOps(library(), UnaryOperator.identity());
                    shared = s;
                }
            }
        }
        return s;
    }

    /**
     * The ops under other symbol names (another libtorch's mangling; a name it does not export gives an instance
     * without that op, which callers answer with DJL's own op).
     */
    public static NativeOps load(String linearSymbol, String softmaxSymbol) {
        return renamed(name -> name.equals(LINEAR) ? linearSymbol : name.equals(SOFTMAX) ? softmaxSymbol : name);
    }

    /** The ops with each symbol name passed through {@code symbol} (tests: a name libtorch does not export). */
    static NativeOps renamed(UnaryOperator<String> symbol) {
        return new NativeOps(library(), symbol);
    }

    public boolean hasLinear() {
        return linear != null;
    }

    public boolean hasSoftmax() {
        return softmax != null;
    }

    public boolean hasContiguous() {
        return contiguous != null && stride != null;
    }

    /**
     * {@code x.contiguous(memoryFormat)} (a {@code c10::MemoryFormat} code: Contiguous 0, ChannelsLast 2; an int8 enum
     * passed in a register), recorded by autograd, attached to {@code x}'s manager; null without the op or for an
     * array that is not a 4-D PyTorch one (ChannelsLast throws on other ranks, and a C++ exception through JNA would
     * abort the JVM).
     */
    public NDArray contiguous(NDArray x, int memoryFormat) {
        if (contiguous == null || !(x instanceof PtNDArray) || x.getShape().dimension() != 4) {
            return null;
        }
        return call(contiguous, x, tensor(x), memoryFormat);
    }

    /**
     * {@code x.relu_()}: x is overwritten with relu(x) and autograd records it as PyTorch's in-place ReLU (its backward
     * reads the result, as the out-of-place one does: same values, same gradients). Returns false, touching nothing,
     * without the op. The caller must know that {@code x} may be overwritten: not a leaf that requires gradients (libtorch
     * throws, and a C++ exception through JNA aborts the JVM), and not an input some recorded op still needs.
     */
    public boolean reluInPlace(NDArray x) {
        if (reluInPlace == null || !(x instanceof PtNDArray)) {
            return false;
        }
        reluInPlace.invokePointer(new Object[] {tensor(x)});
        return true;
    }

    /** libtorch's strides of {@code x} in elements (DJL does not expose them), or null without the op. */
    public long[] strides(NDArray x) {
        if (stride == null || !(x instanceof PtNDArray)) {
            return null;
        }
        long[] out = new long[x.getShape().dimension()];
        for (int d = 0; d < out.length; d++) {
            out[d] = stride.invokeLong(new Object[] {tensor(x), (long) d});
        }
        return out;
    }

    /**
     * {@code x.to(scalarType)} recorded by autograd (its backward returns the gradient in {@code x}'s dtype), attached
     * to {@code x}'s manager; null when this libtorch does not export it. {@code scalarType} is a {@code c10::ScalarType}
     * code (Float 6, Half 5, BFloat16 15), which never throws for a PyTorch array.
     */
    public NDArray toDtype(NDArray x, int scalarType) {
        if (toDtype == null || !(x instanceof PtNDArray)) {
            return null;
        }
        // non_blocking false, copy false, memory_format nullopt (a 2-byte optional in one register: 0)
        return call(toDtype, x, tensor(x), scalarType, 0, 0, 0);
    }

    /**
     * {@code at::linear(x, weight, bias)} (bias may be null), attached to {@code x}'s manager like DJL's results; null
     * when this libtorch does not export the op or the operands are not what it accepts (callers then use DJL's).
     */
    public NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        if (linear == null || !linearAccepts(x, weight, bias)) {
            return null;
        }
        Memory optionalBias = OPTIONAL_BIAS.get(); // this thread's, reused: no allocation per call
        optionalBias.clear();
        if (bias != null) {
            optionalBias.setPointer(0, tensor(bias).getPointer(0)); // the bias's TensorImpl*, borrowed
            optionalBias.setByte(8, (byte) 1);
        }
        return call(linear, x, tensor(x), tensor(weight), optionalBias);
    }

    /**
     * {@code at::softmax(x, dim)} in {@code x}'s own dtype (bf16 stays bf16), attached to {@code x}'s manager; null when
     * this libtorch does not export it.
     */
    public NDArray softmax(NDArray x, int dim) {
        int rank = x.getShape().dimension();
        if (softmax == null || !(x instanceof PtNDArray) || dim < -rank || dim >= Math.max(rank, 1)) {
            return null;
        }
        return call(softmax, x, tensor(x), (long) dim, 0 /* std::optional<ScalarType>: nullopt */);
    }

    /** Runs {@code op} with a fresh result slot as the hidden first argument and wraps the result as a DJL array. */
    private NDArray call(Function op, NDArray first, Object... args) {
        Pointer result = operatorNew.invokePointer(new Object[] {8L});
        Object[] withResult = new Object[args.length + 1];
        withResult[0] = result;
        System.arraycopy(args, 0, withResult, 1, args.length);
        try {
            op.invokePointer(withResult);
        } catch (RuntimeException | Error e) {
            operatorDelete.invokeVoid(new Object[] {result}); // nothing was constructed in it
            throw e;
        }
        return new PtNDArray((PtNDManager) first.getManager(), Pointer.nativeValue(result));
    }

    private static boolean linearAccepts(NDArray x, NDArray weight, NDArray bias) {
        if (!(x instanceof PtNDArray) || !(weight instanceof PtNDArray) || (bias != null && !(bias instanceof PtNDArray))) {
            return false;
        }
        long[] xs = x.getShape().getShape();
        long[] ws = weight.getShape().getShape();
        if (xs.length < 1 || ws.length != 2 || xs[xs.length - 1] != ws[1]) {
            return false;
        }
        if (!x.getDevice().equals(weight.getDevice())
                || (bias != null && (bias.getShape().dimension() != 1 || bias.getShape().get(0) != ws[0]
                        || !bias.getDevice().equals(x.getDevice())))) {
            return false;
        }
        // addmm/matmul refuse mixed dtypes; under autocast they are cast to one before the op
        boolean oneDtype = x.getDataType() == weight.getDataType()
                && (bias == null || bias.getDataType() == weight.getDataType());
        return oneDtype || Autocast.isOn(x.getDevice());
    }

    /** The heap {@code at::Tensor} behind a DJL array (its handle). */
    private static Pointer tensor(NDArray a) {
        return new Pointer(((PtNDArray) a).getHandle());
    }

    private static Function find(NativeLibrary lib, String symbol) {
        if (lib == null) {
            return null;
        }
        try {
            return lib.getFunction(symbol); // dlsym on the library's handle also searches its dependencies (libstdc++)
        } catch (UnsatisfiedLinkError e) {
            return null;
        }
    }

    /** The libtorch_cpu DJL loaded ({@link Autocast}'s), or null when it cannot be opened (then no op is available). */
    private static NativeLibrary library() {
        try {
            return Autocast.libtorchCpu();
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            return null;
        }
    }
}
