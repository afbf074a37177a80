package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.pooling.Pool;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Float32;
import io.moco4j.precision.MemoryFormat;
import io.moco4j.precision.NativeOps;
import java.util.function.Supplier;

/**
 * The functional ops of a ResNet (DJL static ops; each result is attached to its input's manager,
 * never to the manager of the weights).
 */
final class Layers {
    private static final Shape ONE = new Shape(1, 1);

    private Layers() {}

    /** Bias-free 2-D convolution with square stride and padding, as torchvision's conv3x3/conv1x1/stem. */
    static NDArray conv(NDArray x, NDArray weight, int stride, int padding) {
        if (ChannelPaddedConv.needed(x, weight)) {
            long out = weight.getShape().get(0);
            // The padded route runs in NCHW, the layout it was validated in: with a channels_last input, the CIFAR
            // ResNet-18 at width 1/16 (4-32 channels) corrupted the heap in training ("double free or corruption",
            // ResNetForwardGoldenTest), the same small-channel oneDNN kernels the padding works around.
            NDArray nchw = MemoryFormat.isChannelsLast(x) ? MemoryFormat.contiguous(x) : x;
            NDArray[] padded = ChannelPaddedConv.pad(nchw, weight);
            NDArray y = conv2d(padded[0], padded[1], stride, padding);
            if (nchw != x) {
                nchw.close();
            }
            return y.getShape().get(1) == out ? y : y.get(":, 0:" + out);
        }
        return conv2d(x, weight, stride, padding);
    }

    private static NDArray conv2d(NDArray x, NDArray weight, int stride, int padding) {
        return Conv2d.conv2d(x, weight, null, new Shape(stride, stride), new Shape(padding, padding), ONE, 1)
                .singletonOrThrow();
    }

    static NDArray relu(NDArray x) {
        return Activation.relu(x);
    }

    /**
     * relu(x), computed in place in {@code x} when {@code overwritable} (and libtorch's {@code relu_} is reachable), as
     * torchvision's {@code ReLU(inplace=True)}: no new activation to allocate and write. Either way {@code x} is used up:
     * the result is x itself or a new array, and x is closed in the second case.
     */
    static NDArray reluReplacing(NDArray x, boolean overwritable) {
        if (overwritable && NativeOps.get().reluInPlace(x)) {
            return x;
        }
        NDArray r = Activation.relu(x);
        x.close();
        return r;
    }

    /** torchvision's stem pool: MaxPool2d(kernel_size=3, stride=2, padding=1). */
    static NDArray maxPool3x3s2(NDArray x) {
        return Pool.maxPool2d(x, new Shape(3, 3), new Shape(2, 2), new Shape(1, 1), false);
    }

    /** AdaptiveAvgPool2d((1, 1)) followed by flatten(1): (N, C, H, W) to (N, C). */
    static NDArray globalAvgPool(NDArray x) {
        return Pool.globalAvgPool2d(x);
    }

    /**
     * {@code torch.nn.functional.linear} as Python runs it. DJL calls libtorch's C++ {@code nn::functional::linear},
     * which is fused ({@code addmm}) only for 2-D inputs; on (N, L, D) it computes {@code matmul} and then adds the
     * bias, so under bf16 autocast the result is rounded to bf16 twice (measured: 991 of 3264 outputs one ulp off the
     * once-rounded value, where torch's {@code at::linear} folds the leading dimensions into one addmm and rounds once).
     * Folding here gives the ViT's qkv/proj/fc1/fc2 the same single rounding as torch (docs/ISSUES-FOUND.md). It is
     * also much faster under autocast: the in-place {@code += bias} of a float32 bias on the bf16 product ran
     * libtorch's mixed-dtype path (a float32 copy of the whole output and back), in the bias's addmm autocast casts it
     * with the other operands (BENCHMARKS.md, issue 21, where the v3 bf16 step lost time).
     *
     * <p>Under autocast every linear goes to libtorch's own {@code at::linear} ({@link NativeOps#linear}), as
     * {@code torch.nn.Linear} under {@code torch.autocast} does: its autocast kernel casts the leaf weight (cached for
     * the scope), not DJL's {@code W.t()} view, which autocast recast every pass and whose bf16 gradient came back as
     * a transposed float32 copy (35-180 ms per 4096-wide head weight in a one-thread profile). Outside autocast
     * (float32) it is DJL's linear, unchanged: float32 results stay bit for bit the same.
     */
    static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return linear(x, weight, bias, NativeOps::get);
    }

    /**
     * {@link #linear(NDArray, NDArray, NDArray)} with the native ops taken from {@code ops} (only asked under
     * autocast, so a float32 run never opens libtorch's symbols). When this libtorch does not export
     * {@code at::linear}: with a bias, the fold below (DJL's addmm; same single rounding, slower); without one (the
     * MoCo v3 heads), the weight-first product {@code (W x^T)^T}, which also casts the leaf weight once per scope but
     * returns a transposed view (BatchNorm1d's backward on it took 10x longer than on at::linear's contiguous result:
     * BENCHMARKS.md, issue 21, "the v3 heads' BatchNorm on a transposed product").
     */
    static NDArray linear(NDArray x, NDArray weight, NDArray bias, Supplier<NativeOps> ops) {
        Shape s = x.getShape();
        if (Autocast.isOn(x.getDevice())) {
            NDArray y = ops.get().linear(x, weight, bias);
            if (y != null) {
                return y;
            }
            if (bias == null && s.dimension() == 2) {
                return linearWeightFirst(x, weight);
            }
        }
        if (bias == null || s.dimension() <= 2) {
            return Linear.linear(x, weight, bias).singletonOrThrow();
        }
        try (NDArray flat = x.reshape(-1, s.get(s.dimension() - 1))) {
            NDArray y = Linear.linear(flat, weight, bias).singletonOrThrow();
            NDArray out = y.reshape(s.slice(0, s.dimension() - 1).add(weight.getShape().get(0)));
            y.close();
            return out;
        }
    }

    private static NDArray linearWeightFirst(NDArray x, NDArray weight) {
        NDArray yt;
        try (NDArray xt = x.transpose()) {
            yt = weight.matMul(xt); // attached to the weight's manager: moved to the input's below
        }
        yt.attach(x.getManager());
        NDArray y = yt.transpose();
        yt.close();
        return y;
    }

    /**
     * {@code x.softmax(-1)} as {@code torch.autocast} runs it: a reduced-precision (autocast) input goes to libtorch's
     * {@code at::softmax} without a dtype, so autocast's own policy decides (on CPU bf16 in, bf16 out). DJL's softmax
     * always names an output dtype and a bf16 input reads as UNKNOWN there (the JVM aborts), so without the native op
     * the input is brought to float32 first, in the graph. float32 inputs take DJL's softmax, unchanged.
     */
    static NDArray softmaxLastAxis(NDArray x) {
        return softmaxLastAxis(x, NativeOps::get);
    }

    static NDArray softmaxLastAxis(NDArray x, Supplier<NativeOps> ops) {
        if (Float32.isReduced(x)) {
            NDArray p = ops.get().softmax(x, -1);
            if (p != null) {
                return p;
            }
        }
        return Float32.of(x).softmax(-1);
    }
}
