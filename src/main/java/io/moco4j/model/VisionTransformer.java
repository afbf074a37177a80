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
 * <p>Trained vs frozen: {@link #parameters()} holds only the tensors that are trained. The official code keeps
 * {@code pos_embed} (always) and, with {@code stop_grad_conv1}, {@code patch_embed.proj.weight/bias} as
 * {@code nn.Parameter}s with {@code requires_grad=False}; here they are in {@link #buffers()} and listed by
 * {@link #frozenParameters()}. So {@link Networks#setRequiresGradient} never un-freezes them and an optimizer
 * given {@code parameters()} never sees them (torch's AdamW skips them too: they get no gradient).
 * {@link Networks#momentumUpdate} averages {@code parameters()} only; the official update also walks the frozen
 * ones, which changes them by float rounding at most since both encoders start with the same values. An engine
 * that wants those rounding bits too averages {@code frozenParameters()} as well.
 *
 * <p>Images of any size whose sides divide by the patch size run; at a grid other than the built one the sin-cos
 * embedding is recomputed for that grid (logged once per grid) and cached. Memory: parameters live in this
 * network's manager; forward results and temporaries in the input's manager, so a per-step sub-manager frees them.
 */
public final class VisionTransformer implements Network {
    private static final Logger LOG = LoggerFactory.getLogger(VisionTransformer.class);

    private final VitSpec spec;
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> state = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> parameters = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> buffers = new LinkedHashMap<>();
    private final NDArray clsToken;
    private final NDArray posEmbed;
    private final NDArray patchWeight;
    private final NDArray patchBias;
    private final List<TransformerBlock> blocks = new ArrayList<>();
    private final NDArray normWeight;
    private final NDArray normBias;
    private final Map<String, NDArray> otherGrids = new HashMap<>();

    private VisionTransformer(VitSpec spec, NDManager manager, long seed) {
        this.spec = spec;
        this.manager = manager;
        for (StateSlot slot : spec.layout()) {
            NDArray a = StateInitializer.create(slot, manager, seed);
            a.setName(slot.key());
            state.put(slot.key(), a);
            (slot.parameter() ? parameters : buffers).put(slot.key(), a);
        }
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
        NDManager m = parent.newSubManager(parent.getDevice());
        try {
            return new VisionTransformer(spec, m, seed);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** The cls feature (N, D); {@code training} changes nothing (no dropout, no BatchNorm). */
    @Override
    public NDArray forward(NDArray x, boolean training) {
        return features(x);
    }

    /** Images (N, 3, H, W) to the cls token after the final LayerNorm, (N, D), attached to {@code x}'s manager. */
    public NDArray features(NDArray x) {
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
                e = SinCosPositionEmbedding.create(manager, rows, cols, spec.width());
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

    /** Width of {@link #forward}'s output, the embedding dimension D. */
    public int featureDim() {
        return spec.featureDim();
    }

    /** Trained tensors, in state_dict order (no {@code pos_embed}; no patch conv with stop-grad). */
    @Override
    public LinkedHashMap<String, NDArray> parameters() {
        return new LinkedHashMap<>(parameters);
    }

    /** The fixed tensors: {@code pos_embed}, and the patch conv with stop-grad (see {@link #frozenParameters()}). */
    @Override
    public LinkedHashMap<String, NDArray> buffers() {
        return new LinkedHashMap<>(buffers);
    }

    /**
     * The tensors that are {@code nn.Parameter}s with {@code requires_grad=False} in the official model: never
     * trained, never given to the optimizer; exported and imported like any parameter. For a ViT these are all of
     * {@link #buffers()} (timm's ViT has no true buffers).
     */
    public LinkedHashMap<String, NDArray> frozenParameters() {
        return new LinkedHashMap<>(buffers);
    }

    /**
     * Every tensor in the order of the official {@code model.parameters()} (for a ViT, every state_dict entry is
     * an {@code nn.Parameter}): the order torch optimizer state dicts index positions by.
     */
    public List<String> torchParameterOrder() {
        return new ArrayList<>(state.keySet());
    }

    @Override
    public LinkedHashMap<String, NDArray> stateDict() {
        return new LinkedHashMap<>(state);
    }

    /** Read-only view of the state (no copy of the map); the tensors are the live ones. */
    Map<String, NDArray> stateView() {
        return Collections.unmodifiableMap(state);
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
        if (strict) {
            List<String> missing = new ArrayList<>();
            for (String k : state.keySet()) {
                if (!source.containsKey(k)) {
                    missing.add(k);
                }
            }
            List<String> unexpected = new ArrayList<>();
            for (String k : source.keySet()) {
                if (!state.containsKey(k)) {
                    unexpected.add(k);
                }
            }
            if (!missing.isEmpty() || !unexpected.isEmpty()) {
                throw new UserException("state dict does not match " + spec + ": missing " + abbreviate(missing)
                        + ", unexpected " + abbreviate(unexpected)
                        + "; check width, depth and key prefixes (strip head.* and module.*), or load non-strictly");
            }
        }
        for (Map.Entry<String, NDArray> e : source.entrySet()) {
            NDArray dst = state.get(e.getKey());
            if (dst != null && !dst.getShape().equals(e.getValue().getShape())) {
                String got = Arrays.toString(e.getValue().getShape().getShape());
                String want = Arrays.toString(dst.getShape().getShape());
                if (e.getKey().equals("pos_embed")) {
                    long patches = e.getValue().getShape().get(1) - 1;
                    long side = Math.round(Math.sqrt(patches)) * spec.patchSize();
                    throw new UserException("pos_embed has shape " + got + " but " + spec + " expects " + want
                            + ": the checkpoint was built for about " + side + "-px images; build the model with that"
                            + " image size (it still runs on other sizes, recomputing the embedding)");
                }
                throw new UserException("state dict tensor " + e.getKey() + " has shape " + got + " but " + spec
                        + " expects " + want + "; check width, depth, heads, patch size and MLP ratio");
            }
        }
        try (NoGrad ignored = NoGrad.enter()) {
            for (Map.Entry<String, NDArray> e : source.entrySet()) {
                NDArray dst = state.get(e.getKey());
                if (dst != null) {
                    Tensors.copyInto(dst, e.getValue());
                }
            }
        }
    }

    private static String abbreviate(List<String> keys) {
        if (keys.size() <= 4) {
            return keys.toString();
        }
        return keys.subList(0, 4) + " and " + (keys.size() - 4) + " more";
    }

    @Override
    public NDManager manager() {
        return manager;
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return spec.toString();
    }
}
