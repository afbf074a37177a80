package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MoCo v3 Vision Transformer backbone (vits.py's {@code VisionTransformerMoCo} on timm 0.4.9) over an explicit
 * state map whose keys and order equal timm's {@code state_dict()} without a head: {@code cls_token},
 * {@code pos_embed}, {@code patch_embed.proj.weight/bias}, {@code blocks.i.(norm1|attn.qkv|attn.proj|norm2|mlp.fc1|
 * mlp.fc2).*}, {@code norm.weight/bias}. {@link #forward} returns the cls token after the final LayerNorm, (N, D):
 * the feature the official {@code MoCo_ViT} feeds to {@code head} (the projector, which the engine owns and names
 * {@code head.*}) and {@code main_lincls.py} classifies.
 *
 * <p>Trained vs frozen, as in torch: {@link #parameters()} is every {@code nn.Parameter} of the official model, i.e.
 * the whole state (timm's ViT has no buffers, so {@link #buffers()} is empty), and is what the momentum update
 * averages (the official update walks all of {@code parameters()}). {@link #trainableParameters()} leaves out those
 * with {@code requires_grad=False}: {@code pos_embed} always and, with {@code stop_grad_conv1},
 * {@code patch_embed.proj.weight/bias} ({@link #frozenParameters()}). Give only {@code trainableParameters()}
 * gradients and the optimizer (as {@code train.MomentumContrast} does); torch's AdamW skips the frozen ones too,
 * as they never get a gradient. {@link Networks#setRequiresGradient} would un-freeze them: do not use it on a ViT.
 *
 * <p>Images of any size whose sides divide by the patch size run; at a grid other than the built one the sin-cos
 * embedding is recomputed for that grid (logged once per grid) and cached. Memory: parameters live in this
 * network's manager; forward results and temporaries in the input's manager, so a per-step sub-manager frees them.
 */
public final class VisionTransformer extends StateNetwork implements Encoder {
    private static final Logger LOG = LoggerFactory.getLogger(VisionTransformer.class);

    private final VitSpec spec;
    private final LinkedHashMap<String, NDArray> trainable = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> frozen = new LinkedHashMap<>();
    private final NDArray clsToken;
    private final NDArray posEmbed;
    private final NDArray patchWeight;
    private final NDArray patchBias;
    private final List<TransformerBlock> blocks = new ArrayList<>();
    private final NDArray normWeight;
    private final NDArray normBias;
    private final Map<String, NDArray> otherGrids = new HashMap<>();

    private VisionTransformer(VitSpec spec, NDManager manager, long seed) {
        super(manager, spec.layout(), seed, ""); // every slot an nn.Parameter: no buffers
        this.spec = spec;
        Map<String, NDArray> state = stateView();
        state.forEach((key, a) -> (spec.isFrozen(key) ? frozen : trainable).put(key, a));
        clsToken = state.get("cls_token");
        posEmbed = state.get("pos_embed");
        patchWeight = state.get("patch_embed.proj.weight");
        patchBias = state.get("patch_embed.proj.bias");
        for (int b = 0; b < spec.depth(); b++) {
            blocks.add(new TransformerBlock(state, "blocks." + b + ".", spec.heads()));
        }
        normWeight = state.get("norm.weight");
        normBias = state.get("norm.bias");
    }

    /**
     * A freshly initialised ViT (vits.py's init, drawn on the host from {@code seed}) in a new child manager of
     * {@code parent}, on {@code parent}'s device.
     */
    public static VisionTransformer create(VitSpec spec, NDManager parent, long seed) {
        return inChildManager(parent, m -> new VisionTransformer(spec, m, seed));
    }

    /** The cls feature (N, D), the same as {@link #features}: this backbone has no head of its own. */
    @Override
    public NDArray forward(NDArray x, boolean training) {
        return features(x, training);
    }

    /**
     * Images (N, 3, H, W) to the cls token after the final LayerNorm, (N, D), attached to {@code x}'s manager.
     * {@code training} changes nothing (no dropout, drop-path or BatchNorm).
     */
    @Override
    public NDArray features(NDArray x, boolean training) {
        int[] grid = checkInput(x);
        NDManager caller = x.getManager();
        long n = x.getShape().get(0);
        long d = spec.width();
        int p = spec.patchSize();
        NDArray conv = Conv2d.conv2d(x, patchWeight, patchBias, new Shape(p, p), new Shape(0, 0), new Shape(1, 1), 1)
                .singletonOrThrow(); // (N, D, gh, gw)
        NDArray patches = conv.reshape(n, d, (long) grid[0] * grid[1]).transpose(0, 2, 1); // (N, L, D), row-major
        conv.close();
        NDArray cls = clsToken.broadcast(new Shape(n, 1, d)); // attached to the weights' manager: move it
        cls.attach(caller);
        NDArray tokens = NDArrays.concat(new NDList(cls, patches), 1);
        cls.close();
        patches.close();
        NDArray h = tokens.add(positionEmbedding(grid[0], grid[1]));
        tokens.close();
        for (TransformerBlock block : blocks) {
            NDArray next = block.forward(h);
            h.close();
            h = next;
        }
        NDArray normed = TransformerBlock.layerNorm(h, normWeight, normBias);
        h.close();
        NDArray out = normed.get(new NDIndex(":, 0, :"));
        normed.close();
        return out;
    }

    /** The stored embedding at the built grid; a recomputed, cached one at any other grid. */
    private NDArray positionEmbedding(int rows, int cols) {
        int built = spec.gridSize();
        if (rows == built && cols == built) {
            return posEmbed;
        }
        String key = rows + "x" + cols;
        synchronized (otherGrids) {
            NDArray e = otherGrids.get(key);
            if (e == null) {
                LOG.info("{} built for {} px ({}x{} patches) runs on {}x{} px images: using the fixed sin-cos position "
                                + "embedding recomputed for the {} grid", spec, spec.imageSize(), built, built,
                        rows * spec.patchSize(), cols * spec.patchSize(), key);
                e = SinCosPositionEmbedding.create(manager(), rows, cols, spec.width());
                otherGrids.put(key, e);
            }
            return e;
        }
    }

    /** Checks (N, 3, H, W) float32 with H and W multiples of the patch; returns the patch grid (rows, cols). */
    private int[] checkInput(NDArray x) {
        Shape s = x.getShape();
        if (s.dimension() != 4 || s.get(1) != 3) {
            throw new IllegalArgumentException("ViT expects input (N, 3, H, W), got " + s);
        }
        if (x.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("ViT expects float32 input, got " + x.getDataType());
        }
        long h = s.get(2);
        long w = s.get(3);
        int p = spec.patchSize();
        if (h % p != 0 || w % p != 0) {
            throw new UserException("image size " + h + "x" + w + " is not divisible by the ViT patch size " + p
                    + "; use images whose height and width are multiples of " + p + " (e.g. crop or resize to "
                    + spec.imageSize() + ")");
        }
        return new int[] {(int) (h / p), (int) (w / p)};
    }

    public VitSpec spec() {
        return spec;
    }

    /** Width of the features, the embedding dimension D (the projector's input). */
    @Override
    public int featureDim() {
        return spec.featureDim();
    }

    /** The same as {@link #featureDim()}: no head. */
    @Override
    public int outputDim() {
        return spec.featureDim();
    }

    /** The parameters with {@code requires_grad=True} in the official model, in state_dict order. */
    @Override
    public LinkedHashMap<String, NDArray> trainableParameters() {
        return new LinkedHashMap<>(trainable);
    }

    /** {@link #parameters()} that are never trained: {@code pos_embed}, and the patch conv with stop-grad. */
    public LinkedHashMap<String, NDArray> frozenParameters() {
        return new LinkedHashMap<>(frozen);
    }

    /**
     * Copies values into this network's tensors in place. Shape mismatches are always errors (a {@code pos_embed}
     * of another length means another training image size); missing and unexpected keys only with {@code strict}.
     */
    @Override
    public void loadStateDict(Map<String, NDArray> source, boolean strict) {
        if (source.containsKey("conv1.weight") || source.keySet().stream().anyMatch(k -> k.startsWith("layer1."))) {
            throw new UserException("the state dict is a ResNet's (conv1.*, layer1.*) but the model is a ViT ("
                    + spec + "); choose a ResNet backbone for this checkpoint or a ViT checkpoint for this model");
        }
        NDArray pe = source.get("pos_embed");
        if (pe != null && !pe.getShape().equals(posEmbed.getShape())) { // the one shape mismatch with its own fix
            long side = Math.round(Math.sqrt(pe.getShape().get(1) - 1)) * spec.patchSize();
            throw new UserException("pos_embed has shape " + Arrays.toString(pe.getShape().getShape()) + " but " + spec
                    + " expects " + Arrays.toString(posEmbed.getShape().getShape()) + ": the checkpoint was built for"
                    + " about " + side + "-px images; build the model with that image size (it still runs on other"
                    + " sizes, recomputing the embedding)");
        }
        load(source, strict, spec.toString(),
                "check width, depth and key prefixes (strip module.* and head.*), or load non-strictly",
                "check width, depth, heads, patch size and MLP ratio");
    }

    @Override
    public String describe() {
        return spec.toString();
    }

    @Override
    public String toString() {
        return spec.toString();
    }
}
