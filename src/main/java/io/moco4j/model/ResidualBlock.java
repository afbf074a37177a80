package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * torchvision's BasicBlock (two 3x3 convs) or Bottleneck (1x1, 3x3 with the stride, 1x1 expanding 4x; the
 * "ResNet v1.5" placement of the stride), with an optional 1x1-conv + BN shortcut named {@code downsample}.
 */
final class ResidualBlock {
    private final boolean bottleneck;
    private final int stride;
    private final NDArray conv1;
    private final NDArray conv2;
    private final NDArray conv3;
    private final BatchNorm2d bn1;
    private final BatchNorm2d bn2;
    private final BatchNorm2d bn3;
    private final NDArray downsampleConv;
    private final BatchNorm2d downsampleBn;

    ResidualBlock(Map<String, NDArray> state, String prefix, boolean bottleneck, int stride) {
        this.bottleneck = bottleneck;
        this.stride = stride;
        conv1 = state.get(prefix + "conv1.weight");
        conv2 = state.get(prefix + "conv2.weight");
        bn1 = BatchNorm2d.of(state, prefix + "bn1");
        bn2 = BatchNorm2d.of(state, prefix + "bn2");
        conv3 = bottleneck ? state.get(prefix + "conv3.weight") : null;
        bn3 = bottleneck ? BatchNorm2d.of(state, prefix + "bn3") : null;
        downsampleConv = state.get(prefix + "downsample.0.weight");
        downsampleBn = downsampleConv == null ? null : BatchNorm2d.of(state, prefix + "downsample.1");
    }

    /**
     * Returns a new array in {@code x}'s manager; {@code x} itself is left open. Intermediates are closed early. With
     * {@code inPlace} (BN outputs may be overwritten: {@link BatchNorm2d#outputOverwritable}), the ReLUs and the residual
     * sum run in place, as torchvision's block does: the same values and gradients, without writing a new activation.
     */
    NDArray forward(NDArray x, boolean training, int splits, boolean inPlace) {
        NDArray out;
        if (bottleneck) {
            out = convBnRelu(x, conv1, bn1, 1, 0, training, splits, false, inPlace);
            out = convBnRelu(out, conv2, bn2, stride, 1, training, splits, true, inPlace);
            out = convBn(out, conv3, bn3, 1, 0, training, splits, true);
        } else {
            out = convBnRelu(x, conv1, bn1, stride, 1, training, splits, false, inPlace);
            out = convBn(out, conv2, bn2, 1, 1, training, splits, true);
        }
        NDArray shortcut = downsampleConv == null ? x
                : convBn(x, downsampleConv, downsampleBn, stride, 0, training, splits, false);
        NDArray sum;
        if (inPlace) {
            sum = out.addi(shortcut);
        } else {
            // Out of place (bit-identical to addi): under SyncBN the BN output is a leaf that requires gradients (a cut
            // of the backward pass, see io.moco4j.dist.SyncBnBackward), and libtorch refuses in-place ops on such leaves.
            sum = out.add(shortcut);
            out.close();
        }
        if (shortcut != x) {
            shortcut.close();
        }
        return Layers.reluReplacing(sum, inPlace);
    }

    private static NDArray convBn(NDArray x, NDArray w, BatchNorm2d bn, int stride, int pad, boolean training,
                                  int splits, boolean closeInput) {
        NDArray c = Layers.conv(x, w, stride, pad);
        if (closeInput) {
            x.close();
        }
        NDArray y = bn.forward(c, training, splits);
        c.close();
        return y;
    }

    private static NDArray convBnRelu(NDArray x, NDArray w, BatchNorm2d bn, int stride, int pad, boolean training,
                                      int splits, boolean closeInput, boolean inPlace) {
        return Layers.reluReplacing(convBn(x, w, bn, stride, pad, training, splits, closeInput), inPlace);
    }
}
