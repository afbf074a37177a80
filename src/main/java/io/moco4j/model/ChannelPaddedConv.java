package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A workaround for a libtorch 2.7.1 CPU convolution bug (docs/ISSUES-FOUND.md): on AMD EPYC CPUs with AVX-512 (this
 * project's machines), its oneDNN k x k convolution (k > 1) with more than 16 input channels that are not a multiple
 * of 16, on small images (wrong at 4x4 and 10x10, right at 32x32), returns wrong rows at every batch above 1: off by
 * ~20 on outputs of ~15 for 17-66 input channels, right for 16, 32, 48, 64, 80, 96. Its backward also read garbage:
 * the official MoCo v3 step replay at width x0.1 got NaN gradients now and then and a 1% different loss at step 2,
 * and the stem's weight gradient came out wrong at 2 and 6 output channels.
 *
 * <p>The fix is exact arithmetic: input channels (past the image's 1 or 3) and output channels are padded with zeros
 * up to a multiple of 16 (zero input channels add nothing; zero output rows are sliced away), so oneDNN runs only its
 * correct kernels. The padding is made by libtorch and the weight enters the graph through a concatenation, so the
 * gradients reach the real weights unchanged. Widths the presets use (16 x 2^k channels, torchvision's 64 x 2^k)
 * never take this route; the goldens at widths x0.1 and x1/32 match PyTorch again with it.
 */
final class ChannelPaddedConv {
    static final int BLOCK = 16;

    private ChannelPaddedConv() {}

    /** Whether a convolution with this weight (out, in, kh, kw) on {@code x} takes the padded route. */
    static boolean needed(NDArray x, NDArray weight) {
        Shape w = weight.getShape();
        return !x.getDevice().isGpu() && (padsInput(w.get(1)) || w.get(0) % BLOCK != 0);
    }

    /** Pads {@code x}'s channels and {@code weight}'s in/out channels with zeros to multiples of 16. */
    static NDArray[] pad(NDArray x, NDArray weight) {
        Shape w = weight.getShape();
        long out = w.get(0);
        long in = w.get(1);
        long extraIn = padsInput(in) ? roundUp(in) - in : 0;
        long extraOut = roundUp(out) - out;
        NDManager m = x.getManager();
        // Under autocast x may be bf16, which DJL cannot name (DataType.UNKNOWN) and would abort on; float32 zeros are
        // exact, libtorch's cat promotes, and autocast casts the convolution's input back to its own dtype.
        DataType zeroType = x.getDataType() == DataType.UNKNOWN ? DataType.FLOAT32 : x.getDataType();
        NDArray xs = x;
        NDArray ws = weight;
        if (extraIn > 0) {
            xs = NDArrays.concat(new NDList(x, m.zeros(new Shape(x.getShape().get(0), extraIn,
                    x.getShape().get(2), x.getShape().get(3)), zeroType, x.getDevice())), 1);
            ws = inStep(NDArrays.concat(new NDList(weight, m.zeros(new Shape(out, extraIn, w.get(2), w.get(3)),
                    weight.getDataType(), weight.getDevice())), 1), m);
        }
        if (extraOut > 0) {
            ws = inStep(NDArrays.concat(new NDList(ws, m.zeros(new Shape(extraOut, in + extraIn, w.get(2), w.get(3)),
                    weight.getDataType(), weight.getDevice())), 0), m);
        }
        return new NDArray[] {xs, ws};
    }

    /** Image inputs (1 or 3 channels) stay as they are; every other channel count goes to a multiple of 16. */
    private static boolean padsInput(long in) {
        return in > 4 && in % BLOCK != 0;
    }

    /**
     * concat attaches its result to the first operand's manager: a padded weight belongs to the step (x's manager), not
     * to the network, whose manager would otherwise collect one per forward.
     */
    private static NDArray inStep(NDArray padded, NDManager step) {
        padded.attach(step);
        return padded;
    }

    private static long roundUp(long channels) {
        return (channels + BLOCK - 1) / BLOCK * BLOCK;
    }
}
