package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What {@link ResNet}, {@link VisionTransformer} and {@link Mlp} share as {@link Network}s: the state map (PyTorch
 * state_dict keys and order) created from a spec's layout in this network's own manager, split into parameters and
 * buffers; copies of those maps, strict or lenient loading, and closing. Subclasses read their tensors from
 * {@link #stateView()} and write the forward.
 */
abstract class StateNetwork implements Network {
    private final NDManager manager;
    private final LinkedHashMap<String, NDArray> state = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> parameters = new LinkedHashMap<>();
    private final LinkedHashMap<String, NDArray> buffers = new LinkedHashMap<>();

    /**
     * Creates every slot of {@code layout} in {@code manager} (torch's init, drawn on the host from {@code seed}). The
     * random stream of a slot is keyed by {@code streamPrefix} + its key, so a network inside a bigger one ("fc.",
     * "predictor.") draws what that network would draw for its full key.
     */
    StateNetwork(NDManager manager, List<StateSlot> layout, long seed, String streamPrefix) {
        this.manager = manager;
        for (StateSlot slot : layout) {
            StateSlot stream = streamPrefix.isEmpty() ? slot
                    : new StateSlot(streamPrefix + slot.key(), slot.shape(), slot.init(), slot.scale(), slot.parameter());
            NDArray a = StateInitializer.create(stream, manager, seed);
            a.setName(slot.key());
            state.put(slot.key(), a);
            (slot.parameter() ? parameters : buffers).put(slot.key(), a);
        }
    }

    /** Builds a network in a new child manager of {@code parent} (on its device); the manager is closed if that fails. */
    static <T extends StateNetwork> T inChildManager(NDManager parent, Function<NDManager, T> build) {
        NDManager m = parent.newSubManager(parent.getDevice());
        try {
            return build.apply(m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Read-only view of the state (no copy of the map); the tensors are the live ones. */
    final Map<String, NDArray> stateView() {
        return Collections.unmodifiableMap(state);
    }

    @Override
    public LinkedHashMap<String, NDArray> parameters() {
        return new LinkedHashMap<>(parameters);
    }

    @Override
    public LinkedHashMap<String, NDArray> buffers() {
        return new LinkedHashMap<>(buffers);
    }

    @Override
    public final LinkedHashMap<String, NDArray> stateDict() {
        return new LinkedHashMap<>(state);
    }

    /**
     * Copies values into this network's tensors (in place; identity, manager and gradient flags are kept), converted
     * to each tensor's dtype. A shape mismatch is always an error; missing and unexpected keys only with
     * {@code strict}. {@code model} names the network in messages, the hints say what to check.
     */
    final void load(Map<String, NDArray> source, boolean strict, String model, String keysHint, String shapesHint) {
        StateDicts.load(state, source, strict, model, keysHint, shapesHint);
    }

    @Override
    public final NDManager manager() {
        return manager;
    }

    @Override
    public final void close() {
        manager.close();
    }
}
