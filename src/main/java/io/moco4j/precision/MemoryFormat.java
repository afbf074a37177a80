package io.moco4j.precision;

import ai.djl.ndarray.NDArray;

/**
 * libtorch's memory formats for 4-D tensors, through {@link NativeOps} (DJL 0.36 has no memory-format API). A
 * channels_last (NHWC in memory, NCHW in shape) input makes libtorch's oneDNN convolution compute in NHWC, and
 * BatchNorm, ReLU and add keep the format, so converting only a ResNet's input image batch carries it through the
 * network, as {@code x.to(memory_format=torch.channels_last)} does in PyTorch.
 *
 * <p>When libtorch does not export the ops (another version, another platform) or the array is not a 4-D PyTorch
 * one, {@link #channelsLast} and {@link #contiguous} return their input unchanged: the format is a speed choice, never
 * a change of the result.
 */
public final class MemoryFormat {
    static final int CONTIGUOUS = 0;
    static final int CHANNELS_LAST = 2;

    private static volatile NativeOps ops; // null: NativeOps.get()

    private MemoryFormat() {}

    /**
     * {@code x} as a channels_last copy attached to {@code x}'s manager (recorded by autograd like any op), or
     * {@code x} itself when it is not a 4-D PyTorch array or libtorch lacks the ops. The caller closes the result
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
        return ops().hasContiguous();
    }

    /** libtorch's strides of {@code x} in elements (for checks and tests), or null when unavailable. */
    public static long[] strides(NDArray x) {
        return ops().strides(x);
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
        NDArray out = ops().contiguous(x, format);
        return out == null ? x : out;
    }

    private static NativeOps ops() {
        NativeOps o = ops;
        return o != null ? o : NativeOps.get();
    }

    /** For tests: other ops (null: libtorch's, {@link NativeOps#get}). */
    static void useOps(NativeOps o) {
        ops = o;
    }
}
