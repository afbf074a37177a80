package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.norm.LayerNorm;
import io.moco4j.util.Scalars;
import java.util.Map;

/**
 * timm 0.4.9's pre-norm ViT {@code Block} without dropout or drop-path:
 * {@code x = x + attn(norm1(x)); x = x + mlp(norm2(x))}, with {@code mlp = fc2(GELU(fc1(.)))} (exact erf GELU,
 * as {@code nn.GELU}; DJL's PyTorch engine calls {@code torch::nn::functional::gelu} with its default) and
 * multi-head self-attention with a qkv bias and scale {@code head_dim^-0.5}.
 *
 * <p>Attention is batched over samples and heads: (N, H, L, L) scores from one matmul, one softmax, one matmul
 * with V. DJL 0.36 does not expose libtorch's fused {@code scaled_dot_product_attention} (its JNI has matmul,
 * bmm and softmax but no attention op), so the score matrix is materialised as in timm; its peak is one block's
 * N * H * L * L floats at a time in the forward (autograd keeps each block's softmax for the backward, as
 * PyTorch does). The scores are scaled after the product, in timm's order (under bf16 autocast scaling q first would
 * round differently).
 */
final class TransformerBlock {
    static final float LAYER_NORM_EPS = 1e-6f;

    private final int heads;
    private final NDArray norm1Weight;
    private final NDArray norm1Bias;
    private final NDArray qkvWeight;
    private final NDArray qkvBias;
    private final NDArray projWeight;
    private final NDArray projBias;
    private final NDArray norm2Weight;
    private final NDArray norm2Bias;
    private final NDArray fc1Weight;
    private final NDArray fc1Bias;
    private final NDArray fc2Weight;
    private final NDArray fc2Bias;

    TransformerBlock(Map<String, NDArray> state, String prefix, int heads) {
        this.heads = heads;
        norm1Weight = get(state, prefix + "norm1.weight");
        norm1Bias = get(state, prefix + "norm1.bias");
        qkvWeight = get(state, prefix + "attn.qkv.weight");
        qkvBias = get(state, prefix + "attn.qkv.bias");
        projWeight = get(state, prefix + "attn.proj.weight");
        projBias = get(state, prefix + "attn.proj.bias");
        norm2Weight = get(state, prefix + "norm2.weight");
        norm2Bias = get(state, prefix + "norm2.bias");
        fc1Weight = get(state, prefix + "mlp.fc1.weight");
        fc1Bias = get(state, prefix + "mlp.fc1.bias");
        fc2Weight = get(state, prefix + "mlp.fc2.weight");
        fc2Bias = get(state, prefix + "mlp.fc2.bias");
    }

    private static NDArray get(Map<String, NDArray> state, String key) {
        NDArray a = state.get(key);
        if (a == null) {
            throw new IllegalArgumentException("missing ViT tensor " + key);
        }
        return a;
    }

    /** (N, L, D) to (N, L, D), a new array in {@code x}'s manager; {@code x} stays open. */
    NDArray forward(NDArray x) {
        NDArray n1 = layerNorm(x, norm1Weight, norm1Bias);
        NDArray a = attention(n1);
        n1.close();
        NDArray x1 = x.add(a);
        a.close();
        NDArray n2 = layerNorm(x1, norm2Weight, norm2Bias);
        NDArray h = Layers.linear(n2, fc1Weight, fc1Bias);
        n2.close();
        NDArray g = Activation.gelu(h);
        h.close();
        NDArray m = Layers.linear(g, fc2Weight, fc2Bias);
        g.close();
        NDArray out = x1.add(m);
        x1.close();
        m.close();
        return out;
    }

    private NDArray attention(NDArray x) {
        Shape s = x.getShape();
        long n = s.get(0);
        long l = s.get(1);
        long d = s.get(2);
        long hd = d / heads;
        NDArray qkv = Layers.linear(x, qkvWeight, qkvBias);
        NDArray split = qkv.reshape(n, l, 3, heads, hd).transpose(2, 0, 3, 1, 4); // (3, N, H, L, hd)
        qkv.close();
        NDList parts = split.split(3, 0);
        split.close();
        NDArray q = parts.get(0).squeeze(0);
        NDArray k = parts.get(1).squeeze(0);
        NDArray v = parts.get(2).squeeze(0);
        parts.close();
        NDArray kt = k.transpose(0, 1, 3, 2);
        k.close();
        // timm's order, (q k^T) x scale: under bf16 autocast each product is rounded, so scaling q first is another
        // result (not DJL mul(Number): see Scalars)
        NDArray raw = q.matMul(kt); // (N, H, L, L)
        q.close();
        kt.close();
        NDArray scores = Scalars.mul(raw, 1.0 / Math.sqrt(hd));
        raw.close();
        NDArray attn = Layers.softmaxLastAxis(scores); // bf16 stays bf16 under autocast, as in torch (see there)
        scores.close();
        NDArray o = attn.matMul(v); // (N, H, L, hd)
        attn.close();
        v.close();
        NDArray merged = o.transpose(0, 2, 1, 3).reshape(n, l, d);
        o.close();
        NDArray out = Layers.linear(merged, projWeight, projBias);
        merged.close();
        return out;
    }

    static NDArray layerNorm(NDArray x, NDArray weight, NDArray bias) {
        return LayerNorm.layerNorm(x, weight.getShape(), weight, bias, LAYER_NORM_EPS).singletonOrThrow();
    }
}
