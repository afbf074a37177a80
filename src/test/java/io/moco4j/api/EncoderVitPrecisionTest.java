package io.moco4j.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Precision;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ViT inference in bf16 (issue 21), with a bound derived as {@link EncoderPrecisionTest}'s for the ResNet, before
 * looking at the bf16 results: the float32 network with only the tensors autocast casts for its ops rounded to bf16
 * (the linears' and the patch convolution's weights and biases: W tensors) against the plain float32 network gives the
 * weight-rounding error {@code e_w}; autocast's forward adds the roundings of the results, counted from
 * {@code model.VisionTransformer}/{@code TransformerBlock} under libtorch 2.7.1's CPU autocast policy:
 * <ul>
 * <li>patch embedding: the image and the convolution's output (its weight and bias are among the W); position
 * embedding, cls token, residual sums and LayerNorms run in float32 (a float32 operand promotes);</li>
 * <li>per block: the qkv input and output, q.k^T, its scaling, softmax, attn.v, the proj output, the fc1 input and
 * output, GELU and the fc2 output: 11 (plus the block's 8 weights and biases among the W).</li>
 * </ul>
 * With the same sensitivity per rounding and errors adding at worst linearly, the bound is
 * {@code e_w (W + 2 + 11 d) / W} for d blocks. A bf16 embedding further than that is not bf16 rounding.
 */
class EncoderVitPrecisionTest {
    private static final Pattern ROUNDED =
            Pattern.compile("patch_embed\\.proj\\.(weight|bias)|blocks\\.\\d+\\.(attn\\.qkv|attn\\.proj|mlp\\.fc1|mlp\\.fc2)\\.(weight|bias)");

    static MocoConfig vit() {
        // a 2-block ViT of width 32 in patches of 4 on 32 px images (64 tokens + cls)
        return ConfigLoader.defaults().preset("cpu-vit").set("model.arch=vit_tiny").set("model.vit_width=32")
                .set("model.vit_depth=2").set("model.vit_heads=2").set("model.patch_size=4").set("model.head_hidden=32")
                .set("model.predictor_hidden=32").set("model.dim=8").set("train.image_size=32").build();
    }

    @Test
    void bf16VitEmbeddingsAreFloat32AndWithinTheRoundingBound(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = vit();
        Path plain = TinyEncoders.checkpoint(tmp.resolve("vit.ckpt"), cfg, 5, (k, v) -> false);
        Path rounded = TinyEncoders.checkpoint(tmp.resolve("vit-bf16w.ckpt"), cfg, 5, (k, v) -> ROUNDED.matcher(k).matches());
        List<Path> files = TinyEncoders.sceneFolder(tmp.resolve("images"), 12, 7);
        float[][] fp32;
        float[][] bf16;
        float[][] weightsRounded;
        double ratio;
        try (Encoder a = open(plain, Precision.FP32); Encoder b = open(plain, Precision.BF16);
             Encoder w = open(rounded, Precision.FP32)) {
            assertEquals(Precision.BF16, b.precision());
            fp32 = a.embed(files);
            bf16 = b.embed(files);
            weightsRounded = w.embed(files);
            ratio = roundingEventRatio(a.network().stateDict());
        }
        assertFalse(Autocast.isEnabled(ai.djl.Device.cpu()), "autocast is on after embed");
        double ew = 0;
        double worst = 0;
        boolean anyDifferent = false;
        for (int i = 0; i < files.size(); i++) {
            ew = Math.max(ew, EncoderPrecisionTest.relativeError(weightsRounded[i], fp32[i]));
            worst = Math.max(worst, EncoderPrecisionTest.relativeError(bf16[i], fp32[i]));
            for (int j = 0; j < fp32[i].length; j++) {
                anyDifferent |= fp32[i][j] != bf16[i][j];
            }
        }
        assertTrue(ew > 0, "rounding the weights changed nothing: the measurement would be vacuous");
        assertTrue(anyDifferent, "bf16 embeddings equal float32's bit for bit: autocast did not run");
        double bound = ew * ratio;
        System.out.printf("MEASURE ViT Encoder bf16: worst relative error to float32 %.3g; bound %.3g = %.3g (weights"
                + " rounded) x %.2f%n", worst, bound, ew, ratio);
        assertTrue(worst <= bound, "ViT bf16 embeddings: relative error " + worst + " above the bound " + bound);
    }

    /** (W + 2 + 11 d) / W: see the class comment. */
    static double roundingEventRatio(Map<String, NDArray> state) {
        long blocks = state.keySet().stream().filter(k -> k.endsWith("attn.qkv.weight")).count();
        long w = state.keySet().stream().filter(k -> ROUNDED.matcher(k).matches()).count();
        assertEquals(2, blocks);
        assertEquals(2 + 8 * blocks, w, "the patch convolution's and each block's 4 linears' weight and bias");
        return (w + 2.0 + 11 * blocks) / w;
    }

    static Encoder open(Path file, Precision precision) {
        return Encoder.load(file, Encoder.Options.defaults().withDevice("cpu").withBatchSize(4).withPrecision(precision));
    }
}
