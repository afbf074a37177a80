package io.moco4j.onnx;

import static io.moco4j.onnx.OnnxGraph.in;
import static io.moco4j.onnx.OnnxGraph.integer;
import static io.moco4j.onnx.OnnxGraph.ints;

import io.moco4j.model.VitSpec;

/**
 * MoCo v3's Vision Transformer ({@link io.moco4j.model.VisionTransformer}) as ONNX nodes, walking timm's state_dict
 * keys: patch conv, the cls token broadcast to the batch and the position embedding (both initializers), the
 * pre-norm blocks (LayerNormalization, multi-head attention as MatMul / Softmax / MatMul with Q scaled by
 * {@code head_dim^-0.5} before the product as our forward does, the erf GELU of timm's {@code nn.GELU}), and the
 * final LayerNorm of the cls token.
 *
 * <p>The final norm runs on the cls token only: LayerNorm is per token, so it is the same value as normalising all
 * tokens and taking the first, as {@code VisionTransformer.features} does, at 1/L of the cost. The GELU is written
 * as {@code 0.5 x (1 + erf(x / sqrt 2))} in the node order torch's exporter uses, which ONNX Runtime fuses into one
 * kernel.
 */
final class VitOnnx {
    /** timm's {@code partial(nn.LayerNorm, eps=1e-6)}, as {@code model.TransformerBlock} uses. */
    static final float LAYER_NORM_EPS = 1e-6f;

    private final StateOps ops;
    private final OnnxGraph g;
    private final VitSpec spec;
    private String sqrt2;
    private String one;
    private String half;

    private VitOnnx(StateOps ops, VitSpec spec) {
        this.ops = ops;
        this.g = ops.graph();
        this.spec = spec;
    }

    /**
     * Images (N, 3, S, S) at {@code spec.imageSize()} to the normalised cls token (N, D). The state's
     * {@code pos_embed} must be the one for that size's grid.
     */
    static String features(StateOps ops, VitSpec spec, String x) {
        return new VitOnnx(ops, spec).build(x);
    }

    private String build(String x) {
        long d = spec.width();
        int p = spec.patchSize();
        sqrt2 = g.scalar("gelu.sqrt2", (float) Math.sqrt(2.0));
        one = g.scalar("gelu.one", 1f);
        half = g.scalar("gelu.half", 0.5f);
        String conv = ops.conv(x, "patch_embed.proj.weight", "patch_embed.proj.bias", p, 0, "patch_embed.proj");
        String flat = g.op("Reshape", "patch_embed.flatten", conv, g.longs("shape.N_D_L", 0, d, -1)); // (N, D, L)
        String patches = g.node("Transpose", "patch_embed.tokens", in(flat), ints("perm", 0, 2, 1)); // (N, L, D)
        String batch = g.node("Gather", "batch_size", in(g.op("Shape", "input_shape", x), g.longs("index.0", 0)),
                integer("axis", 0)); // (1,): N
        String clsShape = g.node("Concat", "cls_shape", in(batch, g.longs("shape.1_D", 1, d)), integer("axis", 0));
        String cls = g.op("Expand", "cls_tokens", ops.param("cls_token"), clsShape); // (N, 1, D)
        String tokens = g.node("Concat", "tokens", in(cls, patches), integer("axis", 1));
        String h = g.op("Add", "pos_drop", tokens, ops.param("pos_embed"));
        for (int b = 0; b < spec.depth(); b++) {
            h = block("blocks." + b, h);
        }
        String clsOut = g.node("Gather", "cls_token_out", in(h, index(0)), integer("axis", 1));
        return ops.layerNorm(clsOut, "norm", LAYER_NORM_EPS, "norm");
    }

    private String block(String p, String x) {
        String n1 = ops.layerNorm(x, p + ".norm1", LAYER_NORM_EPS, p + ".norm1");
        String x1 = g.op("Add", p + ".add1", x, attention(p + ".attn", n1));
        String n2 = ops.layerNorm(x1, p + ".norm2", LAYER_NORM_EPS, p + ".norm2");
        String h = ops.linearNd(n2, p + ".mlp.fc1.weight", p + ".mlp.fc1.bias", p + ".mlp.fc1");
        String m = ops.linearNd(gelu(h, p + ".mlp.act"), p + ".mlp.fc2.weight", p + ".mlp.fc2.bias", p + ".mlp.fc2");
        return g.op("Add", p + ".add2", x1, m);
    }

    private String attention(String p, String x) {
        long d = spec.width();
        long heads = spec.heads();
        long hd = spec.headDim();
        String qkv = ops.linearNd(x, p + ".qkv.weight", p + ".qkv.bias", p + ".qkv"); // (N, L, 3D)
        String split = g.op("Reshape", p + ".qkv.split", qkv, shape("shape.N_L_3_H_hd", 0, 0, 3, heads, hd));
        String qkvFirst = g.node("Transpose", p + ".qkv.heads", in(split), ints("perm", 2, 0, 3, 1, 4)); // (3, N, H, L, hd)
        String q = g.node("Gather", p + ".q", in(qkvFirst, index(0)), integer("axis", 0)); // (N, H, L, hd)
        String k = g.node("Gather", p + ".k", in(qkvFirst, index(1)), integer("axis", 0));
        String v = g.node("Gather", p + ".v", in(qkvFirst, index(2)), integer("axis", 0));
        String scale = scalarOnce("attn.scale", (float) (1.0 / Math.sqrt(hd)));
        String qs = g.op("Mul", p + ".q_scaled", q, scale);
        String kt = g.node("Transpose", p + ".k_t", in(k), ints("perm", 0, 1, 3, 2));
        String scores = g.op("MatMul", p + ".scores", qs, kt); // (N, H, L, L)
        String attn = g.node("Softmax", p + ".softmax", in(scores), integer("axis", -1));
        String o = g.op("MatMul", p + ".context", attn, v); // (N, H, L, hd)
        String merged = g.node("Transpose", p + ".context_t", in(o), ints("perm", 0, 2, 1, 3)); // (N, L, H, hd)
        String flat = g.op("Reshape", p + ".merge", merged, shape("shape.N_L_D", 0, 0, d));
        return ops.linearNd(flat, p + ".proj.weight", p + ".proj.bias", p + ".proj");
    }

    private String gelu(String x, String name) {
        String e = g.op("Erf", name + ".erf", g.op("Div", name + ".div", x, sqrt2));
        String t = g.op("Mul", name + ".mul", x, g.op("Add", name + ".add", e, one));
        return g.op("Mul", name, t, half);
    }

    private final java.util.Map<String, String> constants = new java.util.HashMap<>();

    private String shape(String name, long... values) {
        return constants.computeIfAbsent(name, n -> g.longs(n, values));
    }

    private String index(long i) {
        return constants.computeIfAbsent("index.scalar" + i, n -> g.longScalar(n, i));
    }

    private String scalarOnce(String name, float value) {
        return constants.computeIfAbsent(name, n -> g.scalar(n, value));
    }
}
