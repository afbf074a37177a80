package io.moco4j.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.MemoryFormat;
import io.moco4j.util.UserException;
import java.util.Locale;

/**
 * The memory layout a ResNet's input batch gets before the stem. libtorch's oneDNN convolution computes in the
 * layout its input suggests, and BatchNorm, ReLU, add and pooling keep it, so one conversion of the images decides
 * the layout of the whole network, forward and backward (PyTorch's {@code x.to(memory_format=torch.channels_last)}).
 *
 * <p>{@link #AUTO} is channels_last where it measured faster, NCHW elsewhere (BENCHMARKS.md, "Issue 21: channels_last
 * for the ResNet encoders"): on the CPU in every precision (oneDNN's NHWC kernels against its blocked NCHW path plus
 * the reorders and gradient copies around it); on CUDA only under autocast, PyTorch's usual recommendation for
 * bf16/fp16 convolutions on tensor cores, not measured here. Split BatchNorm in training ({@code bn_splits} > 1)
 * regroups the batch with a reshape that cannot be a view of an NHWC tensor: it would copy back to NCHW at every
 * BatchNorm, so AUTO keeps NCHW there.
 *
 * <p>The JVM property {@code moco4j.input_layout} ({@code auto}, {@code nchw}, {@code channels_last}) sets the default
 * of new networks, for A/B measurements from one build and as an escape hatch; a result never depends on it beyond
 * float rounding.
 */
public enum InputLayout {
    AUTO,
    NCHW,
    CHANNELS_LAST;

    static final String PROPERTY = "moco4j.input_layout";

    /** The layout named by {@value #PROPERTY}, {@link #AUTO} when unset. */
    static InputLayout fromProperty() {
        String v = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto", "" -> AUTO;
            case "nchw", "contiguous" -> NCHW;
            case "channels_last", "nhwc" -> CHANNELS_LAST;
            default -> throw new UserException(
                    "-D" + PROPERTY + "=" + v + " is not known; use auto, nchw or channels_last");
        };
    }

    /** Whether a forward on {@code device} (under autocast or not, with this many BN groups) uses channels_last. */
    boolean channelsLast(Device device, boolean mixed, boolean training, int bnSplits) {
        return switch (this) {
            case NCHW -> false;
            case CHANNELS_LAST -> true;
            case AUTO -> (!training || bnSplits == 1) && (device.isGpu() ? mixed : isCpu(device));
        };
    }

    /**
     * {@code x} in the layout this policy chooses: a channels_last copy in {@code x}'s manager (closed by the caller),
     * or {@code x} itself (NCHW chosen, or libtorch without the symbols: {@link MemoryFormat}).
     */
    NDArray apply(NDArray x, boolean training, int bnSplits) {
        Device d = x.getDevice();
        return channelsLast(d, Autocast.isOn(d), training, bnSplits) ? MemoryFormat.channelsLast(x) : x;
    }

    private static boolean isCpu(Device device) {
        return Device.Type.CPU.equals(device.getDeviceType());
    }
}
