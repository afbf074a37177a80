package io.moco4j.onnx;

import io.moco4j.model.MlpSpec;

/**
 * moco-v3's projector ({@link io.moco4j.model.Mlp}) in eval mode as ONNX nodes: bias-free Linear layers (Gemm), each
 * hidden one followed by BatchNorm1d with its running statistics and ReLU, the last by a non-affine BatchNorm1d when
 * the spec has one. Keys are nn.Sequential's module indices under the head's prefix ({@code fc.0.weight},
 * {@code fc.1.running_mean}, ...), counted as {@code MlpSpec} counts them (Linear, BN, ReLU per hidden layer).
 */
final class MlpOnnx {
    private MlpOnnx() {}

    /** (N, inDim) to (N, outDim). */
    static String forward(StateOps ops, MlpSpec spec, String prefix, String x) {
        String h = x;
        int module = 0;
        for (int l = 0; l < spec.layers(); l++) {
            boolean last = l == spec.layers() - 1;
            String linear = prefix + module;
            h = ops.linear(h, linear + ".weight", null, linear);
            if (!last || spec.lastBn()) {
                String bn = prefix + (module + 1);
                h = ops.batchNorm(h, bn, bn);
            }
            if (!last) {
                h = ops.relu(h, prefix + (module + 2));
            }
            module += 3;
        }
        return h;
    }
}
