package io.moco4j.onnx;

import static io.moco4j.onnx.OnnxGraph.in;
import static io.moco4j.onnx.OnnxGraph.integer;
import static io.moco4j.onnx.OnnxGraph.ints;

import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;

/**
 * A {@link ResNet} (either stem, any depth and width) in eval mode as ONNX nodes, walking its state_dict keys in the
 * order {@code ResNet.features} runs them: stem conv, BN, ReLU (max-pool with the ImageNet stem), the residual
 * blocks (BasicBlock or Bottleneck, stride on the 3x3 conv, 1x1-conv + BN shortcut where the state has one), global
 * average pooling and flatten. BatchNorm uses the running statistics (eval mode); ONNX Runtime folds it into the
 * convolutions when it optimises the graph.
 */
final class ResNetOnnx {
    private ResNetOnnx() {}

    /** Images (N, 3, H, W) to the pooled features (N, featureDim). */
    static String features(StateOps ops, ResNetSpec spec, String x) {
        OnnxGraph g = ops.graph();
        String h = spec.cifarStem() ? ops.conv(x, "conv1.weight", null, 1, 1, "conv1")
                : ops.conv(x, "conv1.weight", null, 2, 3, "conv1");
        h = ops.relu(ops.batchNorm(h, "bn1", "bn1"), "relu");
        if (!spec.cifarStem()) {
            h = g.node("MaxPool", "maxpool", in(h), ints("kernel_shape", 3, 3), ints("strides", 2, 2),
                    ints("pads", 1, 1, 1, 1), integer("ceil_mode", 0));
        }
        int[] counts = spec.blocksPerStage();
        for (int stage = 0; stage < 4; stage++) {
            for (int b = 0; b < counts[stage]; b++) {
                int stride = (b == 0 && stage > 0) ? 2 : 1;
                h = block(ops, spec.bottleneck(), "layer" + (stage + 1) + "." + b, stride, h);
            }
        }
        String pooled = g.op("GlobalAveragePool", "avgpool", h);
        return g.node("Flatten", "flatten", in(pooled), integer("axis", 1));
    }

    private static String block(StateOps ops, boolean bottleneck, String p, int stride, String x) {
        String out;
        if (bottleneck) {
            out = ops.relu(convBn(ops, x, p, 1, 1, 0), p + ".relu1");
            out = ops.relu(convBn(ops, out, p, 2, stride, 1), p + ".relu2");
            out = convBn(ops, out, p, 3, 1, 0);
        } else {
            out = ops.relu(convBn(ops, x, p, 1, stride, 1), p + ".relu1");
            out = convBn(ops, out, p, 2, 1, 1);
        }
        String shortcut = x;
        if (ops.has(p + ".downsample.0.weight")) {
            String c = ops.conv(x, p + ".downsample.0.weight", null, stride, 0, p + ".downsample.0");
            shortcut = ops.batchNorm(c, p + ".downsample.1", p + ".downsample.1");
        }
        String sum = ops.graph().op("Add", p + ".add", out, shortcut);
        return ops.relu(sum, p);
    }

    private static String convBn(StateOps ops, String x, String p, int i, int stride, int padding) {
        String c = ops.conv(x, p + ".conv" + i + ".weight", null, stride, padding, p + ".conv" + i);
        return ops.batchNorm(c, p + ".bn" + i, p + ".bn" + i);
    }

    /** The v1/v2 head on the pooled features: {@code fc} (linear) or {@code fc.0}, ReLU, {@code fc.2} (MLP). */
    static String head(StateOps ops, HeadSpec head, String features) {
        return switch (head.kind()) {
            case NONE -> features;
            case LINEAR -> ops.linear(features, "fc.weight", "fc.bias", "fc");
            case MLP -> {
                String h = ops.relu(ops.linear(features, "fc.0.weight", "fc.0.bias", "fc.0"), "fc.1");
                yield ops.linear(h, "fc.2.weight", "fc.2.bias", "fc.2");
            }
        };
    }
}
