package io.moco4j.onnx;

import static io.moco4j.onnx.OnnxGraph.in;
import static io.moco4j.onnx.OnnxGraph.integer;
import static io.moco4j.onnx.OnnxGraph.ints;
import static io.moco4j.onnx.OnnxGraph.real;

import ai.djl.ndarray.NDArray;
import io.moco4j.model.BatchNorm2d;
import java.util.HashMap;
import java.util.Map;

/**
 * The layers the exporters share, emitted into an {@link OnnxGraph} with their weights read from a network's state
 * (state_dict keys, optionally under a prefix such as {@code fc.}). Each weight becomes an initializer named by its
 * key, once, however often it is used.
 */
final class StateOps {
    private final OnnxGraph graph;
    private final Map<String, NDArray> state;
    private final Map<String, String> added = new HashMap<>();

    StateOps(OnnxGraph graph, Map<String, NDArray> state) {
        this.graph = graph;
        this.state = state;
    }

    OnnxGraph graph() {
        return graph;
    }

    /** The state tensor {@code key} as an initializer of the same shape. */
    String param(String key) {
        return added.computeIfAbsent(key, k -> {
            NDArray a = tensor(k);
            return graph.weights(k, a.toFloatArray(), a.getShape().getShape());
        });
    }

    /** A Linear weight (out, in) stored transposed (in, out), for MatMul on activations of rank 3. */
    String transposedParam(String key) {
        return added.computeIfAbsent(key + "^T", k -> {
            NDArray a = tensor(key);
            long[] s = a.getShape().getShape();
            float[] w = a.toFloatArray();
            int out = (int) s[0];
            int inDim = (int) s[1];
            float[] t = new float[w.length];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < inDim; i++) {
                    t[i * out + o] = w[o * inDim + i];
                }
            }
            return graph.weights(key + ".T", t, inDim, out);
        });
    }

    NDArray tensor(String key) {
        NDArray a = state.get(key);
        if (a == null) {
            throw new IllegalArgumentException("the network has no tensor " + key + " to export");
        }
        return a;
    }

    boolean has(String key) {
        return state.containsKey(key);
    }

    /** A square convolution with square stride and padding; {@code biasKey} null for none. */
    String conv(String x, String weightKey, String biasKey, int stride, int padding, String name) {
        long k = tensor(weightKey).getShape().get(2);
        String[] inputs = biasKey == null ? in(x, param(weightKey)) : in(x, param(weightKey), param(biasKey));
        return graph.node("Conv", name, inputs, ints("kernel_shape", k, k), ints("strides", stride, stride),
                ints("pads", padding, padding, padding, padding), ints("dilations", 1, 1), integer("group", 1));
    }

    /**
     * Inference BatchNorm on (N, C, ...) with the running statistics, PyTorch's eps; a non-affine BN (moco-v3's last
     * projector BN) gets scale 1 and bias 0, which is what torch's kernel uses for it.
     */
    String batchNorm(String x, String prefix, String name) {
        String mean = param(prefix + ".running_mean");
        String var = param(prefix + ".running_var");
        String scale;
        String bias;
        if (has(prefix + ".weight")) {
            scale = param(prefix + ".weight");
            bias = param(prefix + ".bias");
        } else {
            int c = (int) tensor(prefix + ".running_mean").size();
            float[] ones = new float[c];
            java.util.Arrays.fill(ones, 1f);
            scale = graph.weights(prefix + ".weight(1)", ones, c);
            bias = graph.weights(prefix + ".bias(0)", new float[c], c);
        }
        return graph.node("BatchNormalization", name, in(x, scale, bias, mean, var), real("epsilon", BatchNorm2d.EPS),
                real("momentum", (float) (1 - BatchNorm2d.MOMENTUM)));
    }

    String relu(String x, String name) {
        return graph.op("Relu", name, x);
    }

    /** torch's Linear on (N, in): Gemm with the weight as stored (transB); {@code biasKey} null for none. */
    String linear(String x, String weightKey, String biasKey, String name) {
        String[] inputs = biasKey == null ? in(x, param(weightKey)) : in(x, param(weightKey), param(biasKey));
        return graph.node("Gemm", name, inputs, integer("transB", 1));
    }

    /** torch's Linear on (..., in): MatMul with the transposed weight, then the bias. */
    String linearNd(String x, String weightKey, String biasKey, String name) {
        String y = graph.op("MatMul", name + ".matmul", x, transposedParam(weightKey));
        return graph.op("Add", name, y, param(biasKey));
    }

    /** LayerNormalization over the last axis with the state's weight and bias. */
    String layerNorm(String x, String prefix, float eps, String name) {
        return graph.node("LayerNormalization", name, in(x, param(prefix + ".weight"), param(prefix + ".bias")),
                integer("axis", -1), real("epsilon", eps));
    }
}
