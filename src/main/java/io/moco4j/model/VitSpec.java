package io.moco4j.model;

import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;

/**
 * Architecture of the MoCo v3 Vision Transformer backbone (the official {@code vits.VisionTransformerMoCo} on
 * timm 0.4.9's {@code VisionTransformer}): patch embedding, cls token, fixed 2-D sin-cos position embedding,
 * {@code depth} pre-norm blocks, final LayerNorm; no classifier head (the engine attaches the projector as
 * {@code head.*}).
 *
 * @param imageSize side of the square images the model is built for (fixes the stored {@code pos_embed}); other
 *     sizes whose sides divide by the patch size still run, with a recomputed embedding
 * @param patchSize side of the square patches (the patch conv's kernel and stride)
 * @param width embedding dimension D (a multiple of 4 for the sin-cos embedding and of {@code heads})
 * @param depth number of transformer blocks
 * @param heads attention heads; head dim = width / heads
 * @param mlpRatio hidden width of each block's MLP relative to D (4 in every official model)
 * @param stopGradConv1 the official {@code stop_grad_conv1}: the random patch projection is never trained
 */
public record VitSpec(int imageSize, int patchSize, int width, int depth, int heads, int mlpRatio,
                      boolean stopGradConv1) {

    public VitSpec {
        if (patchSize < 1) {
            throw new UserException("ViT patch size must be >= 1, got " + patchSize + "; use e.g. 16 (ImageNet) or 4 (32-px images)");
        }
        if (imageSize < 1 || imageSize % patchSize != 0) {
            throw new UserException("ViT image size " + imageSize + " is not divisible by the patch size " + patchSize
                    + "; use an image size that is a multiple of " + patchSize + " (e.g. "
                    + Math.max(patchSize, imageSize / patchSize * patchSize) + ") or another patch size");
        }
        if (width < 4 || width % 4 != 0) {
            throw new UserException("ViT width " + width + " is not a positive multiple of 4, which the 2-D sin-cos "
                    + "position embedding needs (a quarter each for sin/cos of row and column); use e.g. 192, 384 or 768");
        }
        if (heads < 1 || width % heads != 0) {
            throw new UserException("ViT width " + width + " is not divisible by " + heads + " attention heads; "
                    + "choose heads that divide the width (e.g. width 384 with 12 heads)");
        }
        if (depth < 1) {
            throw new UserException("ViT depth must be >= 1 transformer block, got " + depth);
        }
        if (mlpRatio < 1) {
            throw new UserException("ViT MLP ratio must be >= 1, got " + mlpRatio + "; the official models use 4");
        }
    }

    /** The official ViT-Small of MoCo v3: 12 heads (the paper's choice; DeiT's ViT-S has 6). */
    public static VitSpec vitSmall(boolean stopGradConv1) {
        return new VitSpec(224, 16, 384, 12, 12, 4, stopGradConv1);
    }

    /** The official ViT-Base. */
    public static VitSpec vitBase(boolean stopGradConv1) {
        return new VitSpec(224, 16, 768, 12, 12, 4, stopGradConv1);
    }

    /** DeiT-Tiny's shape (D 192, 3 heads) at 224 px; not an official MoCo v3 model, but one a single GPU trains. */
    public static VitSpec vitTiny(boolean stopGradConv1) {
        return new VitSpec(224, 16, 192, 12, 3, 4, stopGradConv1);
    }

    /**
     * A ViT for 32-px images (CIFAR) that trains on a CPU: patch 4 gives an 8 x 8 grid (65 tokens, against 197 at
     * ImageNet size: attention stays cheap), D 192 with 3 heads of 64 as ViT-Tiny, and 6 blocks instead of 12 so
     * one forward costs about 0.18 GMAC per image, a third of a CIFAR ResNet-18's 0.56.
     */
    public static VitSpec vitCifarTiny(boolean stopGradConv1) {
        return new VitSpec(32, 4, 192, 6, 3, 4, stopGradConv1);
    }

    /** The named sizes: vit_small, vit_base, vit_tiny, vit_cifar_tiny. */
    public static VitSpec named(String name, boolean stopGradConv1) {
        return switch (name.toLowerCase(Locale.ROOT).replace('-', '_')) {
            case "vit_small" -> vitSmall(stopGradConv1);
            case "vit_base" -> vitBase(stopGradConv1);
            case "vit_tiny" -> vitTiny(stopGradConv1);
            case "vit_cifar_tiny" -> vitCifarTiny(stopGradConv1);
            default -> throw new UserException("unknown ViT size '" + name
                    + "'; use vit_small, vit_base, vit_tiny or vit_cifar_tiny");
        };
    }

    /** The same architecture built for {@code size}-px images (the stored position embedding changes). */
    public VitSpec withImageSize(int size) {
        return new VitSpec(size, patchSize, width, depth, heads, mlpRatio, stopGradConv1);
    }

    public int headDim() {
        return width / heads;
    }

    /** Patches per side at the built image size. */
    public int gridSize() {
        return imageSize / patchSize;
    }

    /** Tokens at the built image size: the patches plus the cls token. */
    public int tokens() {
        return gridSize() * gridSize() + 1;
    }

    /** Width of the backbone feature (the cls token after the final norm). */
    public int featureDim() {
        return width;
    }

    /** Every state_dict key with its shape, in timm's order, computed without allocating tensors. */
    public LinkedHashMap<String, long[]> stateShapes() {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (StateSlot s : layout()) {
            out.put(s.key(), s.shape());
        }
        return out;
    }

    /** Number of trained scalars (without the fixed position embedding and, with stop-grad, the patch conv). */
    public long parameterCount() {
        long n = 0;
        for (StateSlot s : layout()) {
            if (!isFrozen(s.key())) {
                n += s.size();
            }
        }
        return n;
    }

    /**
     * Whether a state key is an {@code nn.Parameter} the official model never trains ({@code requires_grad=False}):
     * {@code pos_embed} always, {@code patch_embed.proj.*} with stop-grad.
     */
    public boolean isFrozen(String key) {
        return key.equals("pos_embed") || (stopGradConv1 && key.startsWith("patch_embed.proj."));
    }

    /**
     * The state in timm's {@code state_dict()} order: the module's own {@code cls_token} and {@code pos_embed}
     * first, then {@code patch_embed}, {@code blocks.i}, {@code norm}. Each initialisation is vits.py's: Linear
     * biases 0, qkv weight U(+-sqrt(6 / (D + D))) (Q, K and V each a D x D xavier), other Linear weights
     * xavier-uniform, cls token N(0, 1e-6), patch conv U(+-sqrt(6 / (3 p p + D))) with bias 0, LayerNorm 1 / 0.
     * Every slot is an {@code nn.Parameter} as in timm (which has no buffers); {@link #isFrozen} says which are
     * not trained.
     */
    List<StateSlot> layout() {
        List<StateSlot> slots = new ArrayList<>();
        long d = width;
        slots.add(new StateSlot("cls_token", new long[] {1, 1, d}, StateSlot.Init.NORMAL, 1e-6, true));
        slots.add(new StateSlot("pos_embed", new long[] {1, tokens(), d}, StateSlot.Init.SINCOS_2D, 0, true));
        double patchBound = Math.sqrt(6.0 / (3.0 * patchSize * patchSize + d));
        slots.add(new StateSlot("patch_embed.proj.weight", new long[] {d, 3, patchSize, patchSize},
                StateSlot.Init.UNIFORM, patchBound, true));
        slots.add(new StateSlot("patch_embed.proj.bias", new long[] {d}, StateSlot.Init.ZEROS, 0, true));
        long hidden = d * mlpRatio;
        for (int b = 0; b < depth; b++) {
            String p = "blocks." + b + ".";
            layerNorm(slots, p + "norm1", d);
            linear(slots, p + "attn.qkv", 3 * d, d, Math.sqrt(6.0 / (d + d)));
            linear(slots, p + "attn.proj", d, d, xavier(d, d));
            layerNorm(slots, p + "norm2", d);
            linear(slots, p + "mlp.fc1", hidden, d, xavier(hidden, d));
            linear(slots, p + "mlp.fc2", d, hidden, xavier(d, hidden));
        }
        layerNorm(slots, "norm", d);
        return slots;
    }

    private static double xavier(long out, long in) {
        return Math.sqrt(6.0 / (out + in));
    }

    private static void layerNorm(List<StateSlot> slots, String name, long d) {
        slots.add(new StateSlot(name + ".weight", new long[] {d}, StateSlot.Init.ONES, 0, true));
        slots.add(new StateSlot(name + ".bias", new long[] {d}, StateSlot.Init.ZEROS, 0, true));
    }

    private static void linear(List<StateSlot> slots, String name, long out, long in, double bound) {
        slots.add(new StateSlot(name + ".weight", new long[] {out, in}, StateSlot.Init.UNIFORM, bound, true));
        slots.add(new StateSlot(name + ".bias", new long[] {out}, StateSlot.Init.ZEROS, 0, true));
    }

    @Override
    public String toString() {
        return "ViT(" + imageSize + "px, patch " + patchSize + ", D " + width + ", depth " + depth + ", heads " + heads
                + (stopGradConv1 ? ", stop-grad conv1" : "") + ")";
    }
}
