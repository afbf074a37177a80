package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.precision.Float32;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * moco-v3's projector / predictor MLP ({@link MlpSpec}) over an explicit state map with nn.Sequential's keys.
 *
 * <p>As {@link ResNet}: every tensor lives in this network's own manager (a child of the one given to
 * {@link #create}); forward results and temporaries attach to the input's manager; parameters start without
 * gradients (see {@link Networks#setRequiresGradient}). Every BatchNorm1d normalises over the whole batch given to
 * one forward (moco-v3 runs each view as its own forward).
 */
public final class Mlp extends StateNetwork {
    private final MlpSpec spec;
    private final List<NDArray> weights = new ArrayList<>();
    private final List<BatchNorm1d> norms = new ArrayList<>(); // after layer l; null after the last without lastBn

    private Mlp(MlpSpec spec, NDManager manager, long seed, String initPrefix) {
        super(manager, spec.layout(), seed, initPrefix); // drawn as the bigger network ("fc.", "predictor.") would
        this.spec = spec;
        Map<String, NDArray> state = stateView();
        int[] linear = spec.linearIndices();
        for (int l = 0; l < spec.layers(); l++) {
            weights.add(state.get(linear[l] + ".weight"));
            String bn = String.valueOf(linear[l] + 1);
            boolean last = l == spec.layers() - 1;
            norms.add(!last ? BatchNorm1d.of(state, bn, true) : spec.lastBn() ? BatchNorm1d.of(state, bn, false) : null);
        }
    }

    /** A freshly initialised MLP (torch's default init drawn on the host from {@code seed}) in a child of {@code parent}. */
    public static Mlp create(MlpSpec spec, NDManager parent, long seed) {
        return create(spec, parent, seed, "");
    }

    /**
     * As {@link #create(MlpSpec, NDManager, long)}, drawing each tensor's init from the stream of
     * {@code initPrefix + key} (e.g. {@code "predictor."}), so two MLPs of one model built from one seed differ.
     */
    public static Mlp create(MlpSpec spec, NDManager parent, long seed, String initPrefix) {
        return inChildManager(parent, m -> new Mlp(spec, m, seed, initPrefix));
    }

    /** (N, inDim) to (N, outDim), attached to {@code x}'s manager. */
    @Override
    public NDArray forward(NDArray x, boolean training) {
        Shape shape = x.getShape();
        if (shape.dimension() != 2 || shape.get(1) != spec.inDim()) {
            throw new IllegalArgumentException("MLP expects input (N, " + spec.inDim() + "), got " + shape);
        }
        if (x.getDataType() != DataType.FLOAT32 && !Float32.isReduced(x)) { // reduced: an autocast backbone's output
            throw new IllegalArgumentException("MLP expects float32 input, got " + x.getDataType());
        }
        NDArray h = x;
        for (int l = 0; l < weights.size(); l++) {
            NDArray y = Layers.linear(h, weights.get(l), null);
            if (h != x) {
                h.close();
            }
            BatchNorm1d bn = norms.get(l);
            if (bn != null) {
                NDArray b = bn.forward(y, training);
                y.close();
                y = b;
            }
            if (l < weights.size() - 1) {
                h = Layers.relu(y);
                y.close();
            } else {
                h = y;
            }
        }
        return h;
    }

    public MlpSpec spec() {
        return spec;
    }

    /**
     * Copies values into this MLP's tensors (in place). A shape mismatch is always an error; missing and unexpected
     * keys only with {@code strict}. Values are converted to each tensor's dtype.
     */
    @Override
    public void loadStateDict(Map<String, NDArray> source, boolean strict) {
        load(source, strict, "an MLP of " + spec.layers() + " layers"
                        + (spec.lastBn() ? " with the last BN" : " without the last BN"),
                "check the number of layers, last-BN setting and key prefixes, or load non-strictly",
                "check the MLP's input, hidden and output dimensions");
    }

    @Override
    public String toString() {
        return "MLP " + spec;
    }
}
