package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * torchvision's ResNet-18/34/50 (optionally with the CIFAR stem, a width multiplier and a MoCo head),
 * written with DJL functional ops over an explicit state map whose keys and order equal torchvision's
 * {@code state_dict()}.
 *
 * <p>All parameters and buffers live in this network's own manager (a child of the manager passed to
 * {@link #create}); forward results and temporaries are attached to the input's manager, so a per-step
 * sub-manager frees them. Parameters start without gradients; call
 * {@link Networks#setRequiresGradient(Network, boolean)} for the encoder that is trained.
 */
public final class ResNet extends StateNetwork implements Encoder {
    private final ResNetSpec spec;
    private final NDArray stemConv;
    private final BatchNorm2d stemBn;
    private final List<ResidualBlock> blocks = new ArrayList<>();
    private final List<NDArray[]> headLayers = new ArrayList<>();
    private int bnSplits;
    private InputLayout inputLayout = InputLayout.fromProperty();

    private ResNet(ResNetSpec spec, NDManager manager, long seed) {
        super(manager, spec.layout(), seed, "");
        this.spec = spec;
        this.bnSplits = spec.bnSplits();
        Map<String, NDArray> state = stateView();
        stemConv = state.get("conv1.weight");
        stemBn = BatchNorm2d.of(state, "bn1");
        int[] counts = spec.blocksPerStage();
        for (int stage = 0; stage < 4; stage++) {
            for (int b = 0; b < counts[stage]; b++) {
                int stride = (b == 0 && stage > 0) ? 2 : 1;
                blocks.add(new ResidualBlock(state, "layer" + (stage + 1) + "." + b + ".", spec.bottleneck(), stride));
            }
        }
        switch (spec.head().kind()) {
            case NONE -> { }
            case LINEAR -> headLayers.add(new NDArray[] {state.get("fc.weight"), state.get("fc.bias")});
            case MLP -> {
                headLayers.add(new NDArray[] {state.get("fc.0.weight"), state.get("fc.0.bias")});
                headLayers.add(new NDArray[] {state.get("fc.2.weight"), state.get("fc.2.bias")});
            }
        }
    }

    /**
     * Builds a freshly initialised network (torchvision's init, drawn on the host from {@code seed}) in a new
     * child manager of {@code parent}, on {@code parent}'s device.
     */
    public static ResNet create(ResNetSpec spec, NDManager parent, long seed) {
        return inChildManager(parent, m -> new ResNet(spec, m, seed));
    }

    /** Head output (pooled features when the head is NONE), attached to {@code x}'s manager. */
    @Override
    public NDArray forward(NDArray x, boolean training) {
        NDArray h = features(x, training);
        for (int i = 0; i < headLayers.size(); i++) {
            NDArray[] wb = headLayers.get(i);
            NDArray y = Layers.linear(h, wb[0], wb[1]);
            h.close();
            if (i < headLayers.size() - 1) {
                h = Layers.relu(y);
                y.close();
            } else {
                h = y;
            }
        }
        return h;
    }

    /** Flattened global-average-pooled backbone output (N, featureDim), attached to {@code x}'s manager. */
    @Override
    public NDArray features(NDArray x, boolean training) {
        checkInput(x);
        int s = bnSplits;
        NDArray in = inputLayout.apply(x, training, s);
        NDArray c = spec.cifarStem() ? Layers.conv(in, stemConv, 1, 1) : Layers.conv(in, stemConv, 2, 3);
        if (in != x) {
            in.close();
        }
        NDArray b = stemBn.forward(c, training, s);
        c.close();
        boolean inPlace = BatchNorm2d.outputOverwritable(training, s); // one decision for the stem and every block
        NDArray h = Layers.reluReplacing(b, inPlace);
        if (!spec.cifarStem()) {
            NDArray p = Layers.maxPool3x3s2(h);
            h.close();
            h = p;
        }
        for (ResidualBlock block : blocks) {
            NDArray next = block.forward(h, training, s, inPlace);
            h.close();
            h = next;
        }
        NDArray pooled = Layers.globalAvgPool(h);
        h.close();
        return pooled;
    }

    private void checkInput(NDArray x) {
        Shape shape = x.getShape();
        long inChannels = stemConv.getShape().get(1);
        if (shape.dimension() != 4 || shape.get(1) != inChannels) {
            throw new IllegalArgumentException("ResNet expects input (N, " + inChannels + ", H, W), got " + shape);
        }
        if (x.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("ResNet expects float32 input, got " + x.getDataType());
        }
    }

    @Override
    public int featureDim() {
        return spec.featureDim();
    }

    @Override
    public int outputDim() {
        return spec.outputDim();
    }

    public ResNetSpec spec() {
        return spec.withBnSplits(bnSplits);
    }

    /** Number of BatchNorm groups used in training forwards (1 = plain BN). */
    public int batchNormSplits() {
        return bnSplits;
    }

    public void setBatchNormSplits(int s) {
        if (s < 1) {
            throw new UserException("bn-splits must be >= 1 (1 = plain BatchNorm), got " + s);
        }
        bnSplits = s;
    }

    /** The memory layout of the input batch (see {@link InputLayout}; a speed choice, results equal up to rounding). */
    public InputLayout inputLayout() {
        return inputLayout;
    }

    public void setInputLayout(InputLayout layout) {
        inputLayout = Objects.requireNonNull(layout);
    }

    /**
     * Copies values into this network's tensors (in place; identity, manager and gradient flags are kept).
     * A shape mismatch is always an error; missing and unexpected keys are errors only with {@code strict}.
     * Values are converted to each tensor's dtype (e.g. a float {@code num_batches_tracked}).
     */
    @Override
    public void loadStateDict(Map<String, NDArray> source, boolean strict) {
        if (source.containsKey("pos_embed") || source.containsKey("cls_token")) {
            throw new UserException("the state dict is a Vision Transformer's (cls_token, pos_embed) but the model is"
                    + " ResNet-" + spec.depth() + "; choose a ViT backbone for this checkpoint or a ResNet checkpoint");
        }
        load(source, strict, "ResNet-" + spec.depth() + " with head " + spec.head().kind(),
                "check depth, head and key prefixes, or load non-strictly",
                "check depth, width, stem and head settings");
    }

    @Override
    public String describe() {
        return toString();
    }

    @Override
    public String toString() {
        return "ResNet-" + spec.depth() + (spec.cifarStem() ? " (CIFAR stem)" : "") + " width " + spec.widthMultiplier()
                + " head " + spec.head() + " bnSplits " + bnSplits;
    }
}
