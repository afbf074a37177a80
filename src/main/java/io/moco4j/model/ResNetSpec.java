package io.moco4j.model;

import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Architecture of a torchvision-style ResNet.
 *
 * @param depth 18, 34 (BasicBlock) or 50 (Bottleneck)
 * @param cifarStem conv1 is 3x3 stride 1 padding 1 and there is no max-pool (the official MoCo CIFAR demo);
 *     state_dict keys are unchanged
 * @param widthMultiplier scales the base widths 64/128/256/512 (1.0 = torchvision); scaled widths are rounded
 *     and at least 1. Meant for tiny test models.
 * @param zeroInitResidual torchvision's {@code zero_init_residual}: the last BN of every residual block
 *     (bn2 of BasicBlock, bn3 of Bottleneck) starts with gamma 0
 * @param head layers after global average pooling
 * @param bnSplits number of BatchNorm groups in training (official MoCo CIFAR demo's SplitBatchNorm); 1 = plain BN
 */
public record ResNetSpec(int depth, boolean cifarStem, double widthMultiplier, boolean zeroInitResidual,
                         HeadSpec head, int bnSplits) {

    private static final int[] BASE_WIDTHS = {64, 128, 256, 512};

    public ResNetSpec {
        if (depth != 18 && depth != 34 && depth != 50) {
            throw new UserException("ResNet depth " + depth + " is not supported; use 18, 34 or 50");
        }
        if (!(widthMultiplier > 0) || Double.isInfinite(widthMultiplier)) {
            throw new UserException("ResNet width multiplier must be a positive number, got " + widthMultiplier);
        }
        if (head == null) {
            throw new UserException("ResNet head is missing; use HeadSpec.none(), linear(out) or mlp(hidden, out)");
        }
        if (bnSplits < 1) {
            throw new UserException("bn-splits must be >= 1 (1 = plain BatchNorm), got " + bnSplits);
        }
    }

    /** torchvision's resnetN(num_classes=outDim) layout: ImageNet stem, width 1, plain BN. */
    public static ResNetSpec torchvision(int depth, HeadSpec head) {
        return new ResNetSpec(depth, false, 1.0, false, head, 1);
    }

    /** The official MoCo CIFAR demo's encoder layout: 3x3 stem, no max-pool, width 1. */
    public static ResNetSpec cifar(int depth, HeadSpec head, int bnSplits) {
        return new ResNetSpec(depth, true, 1.0, false, head, bnSplits);
    }

    public ResNetSpec withHead(HeadSpec newHead) {
        return new ResNetSpec(depth, cifarStem, widthMultiplier, zeroInitResidual, newHead, bnSplits);
    }

    public ResNetSpec withBnSplits(int splits) {
        return new ResNetSpec(depth, cifarStem, widthMultiplier, zeroInitResidual, head, splits);
    }

    public boolean bottleneck() {
        return depth >= 50;
    }

    /** Output channels of a block relative to its "planes" (torchvision's {@code expansion}). */
    public int expansion() {
        return bottleneck() ? 4 : 1;
    }

    public int[] blocksPerStage() {
        return switch (depth) {
            case 18 -> new int[] {2, 2, 2, 2};
            case 34, 50 -> new int[] {3, 4, 6, 3};
            default -> throw new IllegalStateException("depth " + depth);
        };
    }

    /** Channels after the stem (torchvision's initial {@code inplanes}). */
    public int stemWidth() {
        return scaled(64);
    }

    /** "planes" of each of the four stages. */
    public int[] stageWidths() {
        int[] w = new int[4];
        for (int i = 0; i < 4; i++) {
            w[i] = scaled(BASE_WIDTHS[i]);
        }
        return w;
    }

    /** Width of the pooled backbone features (torchvision's {@code fc.in_features}). */
    public int featureDim() {
        return stageWidths()[3] * expansion();
    }

    /** Width of {@code forward}'s output. */
    public int outputDim() {
        return head.outputDim(featureDim());
    }

    private int scaled(int base) {
        return (int) Math.max(1, Math.round(base * widthMultiplier));
    }

    /** Every state_dict key with its shape, in torchvision's order, computed without allocating tensors. */
    public LinkedHashMap<String, long[]> stateShapes() {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (StateSlot s : layout()) {
            out.put(s.key(), s.shape());
        }
        return out;
    }

    /** Number of trainable scalars. */
    public long parameterCount() {
        long n = 0;
        for (StateSlot s : layout()) {
            if (s.parameter()) {
                n += s.size();
            }
        }
        return n;
    }

    /** The state in torchvision's module registration order. */
    List<StateSlot> layout() {
        List<StateSlot> slots = new ArrayList<>();
        int inplanes = stemWidth();
        int k = cifarStem ? 3 : 7;
        if (cifarStem) {
            // The MoCo CIFAR demo swaps in its 3x3 conv1 after torchvision has initialised the network, so that
            // conv keeps torch.nn.Conv2d's own default init (kaiming_uniform, a = sqrt(5)): U(+-1/sqrt(fan_in)).
            slots.add(new StateSlot("conv1.weight", new long[] {inplanes, 3, k, k}, StateSlot.Init.CONV_TORCH_DEFAULT,
                    1.0 / Math.sqrt(3.0 * k * k), true));
        } else {
            conv(slots, "conv1", inplanes, 3, k);
        }
        bn(slots, "bn1", inplanes, false);
        int[] widths = stageWidths();
        int[] blocks = blocksPerStage();
        for (int stage = 0; stage < 4; stage++) {
            int planes = widths[stage];
            int out = planes * expansion();
            for (int b = 0; b < blocks[stage]; b++) {
                String p = "layer" + (stage + 1) + "." + b + ".";
                int stride = (b == 0 && stage > 0) ? 2 : 1;
                boolean downsample = b == 0 && (stride != 1 || inplanes != out);
                if (bottleneck()) {
                    conv(slots, p + "conv1", planes, inplanes, 1);
                    bn(slots, p + "bn1", planes, false);
                    conv(slots, p + "conv2", planes, planes, 3);
                    bn(slots, p + "bn2", planes, false);
                    conv(slots, p + "conv3", out, planes, 1);
                    bn(slots, p + "bn3", out, zeroInitResidual);
                } else {
                    conv(slots, p + "conv1", planes, inplanes, 3);
                    bn(slots, p + "bn1", planes, false);
                    conv(slots, p + "conv2", planes, planes, 3);
                    bn(slots, p + "bn2", planes, zeroInitResidual);
                }
                if (downsample) {
                    conv(slots, p + "downsample.0", out, inplanes, 1);
                    bn(slots, p + "downsample.1", out, false);
                }
                inplanes = out;
            }
        }
        int feat = featureDim();
        switch (head.kind()) {
            case NONE -> { }
            case LINEAR -> linear(slots, "fc", head.outDim(), feat);
            case MLP -> {
                int hidden = head.resolvedHiddenDim(feat);
                linear(slots, "fc.0", hidden, feat);
                linear(slots, "fc.2", head.outDim(), hidden);
            }
        }
        return slots;
    }

    private static void conv(List<StateSlot> slots, String name, int out, int in, int k) {
        slots.add(new StateSlot(name + ".weight", new long[] {out, in, k, k},
                StateSlot.Init.CONV_KAIMING_FAN_OUT, Math.sqrt(2.0 / ((double) out * k * k)), true));
    }

    private static void bn(List<StateSlot> slots, String name, int c, boolean zeroGamma) {
        long[] shape = {c};
        slots.add(new StateSlot(name + ".weight", shape, zeroGamma ? StateSlot.Init.ZEROS : StateSlot.Init.ONES, 0, true));
        slots.add(new StateSlot(name + ".bias", shape, StateSlot.Init.ZEROS, 0, true));
        slots.add(new StateSlot(name + ".running_mean", shape, StateSlot.Init.ZEROS, 0, false));
        slots.add(new StateSlot(name + ".running_var", shape, StateSlot.Init.ONES, 0, false));
        slots.add(new StateSlot(name + ".num_batches_tracked", new long[0], StateSlot.Init.COUNTER, 0, false));
    }

    private static void linear(List<StateSlot> slots, String name, int out, int in) {
        double bound = 1.0 / Math.sqrt(in);
        slots.add(new StateSlot(name + ".weight", new long[] {out, in}, StateSlot.Init.LINEAR_DEFAULT, bound, true));
        slots.add(new StateSlot(name + ".bias", new long[] {out}, StateSlot.Init.LINEAR_DEFAULT, bound, true));
    }
}
