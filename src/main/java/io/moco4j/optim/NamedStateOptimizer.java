package io.moco4j.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.UserException;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@link Sgd}, {@link Lars} and {@link AdamW} share: state tensors keyed by parameter name ({@code <name>} for
 * SGD's and LARS's momentum buffer, {@code <name>.<slot>} for AdamW's), in this optimizer's own manager on the
 * parameters' device; the step loop over parameters that have a gradient, with a per-step sub-manager for
 * temporaries; state save/restore, the step count and closing. Subclasses write the update (and may check and
 * convert state being restored).
 */
abstract class NamedStateOptimizer implements Optimizer {
    private final String name;
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    private NDManager stateManager;
    private long stepCount;
    private boolean closed;
    /** This step's scalar operands ({@link #scalar}), in its temporaries' manager. */
    private final Map<Integer, NDArray> scalars = new HashMap<>();
    private NDManager scalarManager;

    /** @param name the optimizer's name in messages, e.g. "Sgd" */
    NamedStateOptimizer(String name) {
        this.name = name;
    }

    /**
     * Updates one parameter in place at {@code lr}; temporaries attach to {@code tmp}. Parameters are updated
     * through detached views ({@code stopGradient}), so a step never builds an autograd graph.
     */
    abstract void update(String key, NDArray param, double lr, NDManager tmp);

    @Override
    public final void step(Map<String, NDArray> params, double lr) {
        ensureOpen();
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
        }
        if (!params.isEmpty()) {
            NDArray first = params.values().iterator().next();
            ensureStateManager(first.getDevice());
            try (NDManager stepManager = stateManager.newSubManager(first.getDevice())) {
                scalarManager = stepManager;
                try {
                    for (Map.Entry<String, NDArray> e : params.entrySet()) {
                        NDArray param = e.getValue();
                        if (param.hasGradient()) {
                            update(e.getKey(), param, lr, stepManager);
                        }
                    }
                } finally {
                    scalars.clear(); // their arrays close with the step's manager
                    scalarManager = null;
                }
            }
        }
        stepCount++;
    }

    /**
     * {@code v} as the 0-dim float32 array DJL's {@code x.mul(v)} would make for the op (so the op and its result are
     * the same), made once per step and value in the step's temporaries' manager and shared by every parameter's
     * update. An update's handful of constants were otherwise made ~600 times a step, each a direct buffer, a native
     * tensor and its release (about a third of AdamW's time outside libtorch on the cpu-vit model; BENCHMARKS.md,
     * issue 21, the ViT step's time outside libtorch). For {@link #update} only (its operations record no gradients).
     */
    final NDArray scalar(float v) {
        return scalars.computeIfAbsent(Float.floatToRawIntBits(v), bits -> scalarManager.create(v));
    }

    /** The buffer of {@code key} on {@code param}'s device (its shape checked), or null before its first step. */
    final NDArray buffer(String key, NDArray param) {
        NDArray buf = buffers.get(key);
        if (buf == null) {
            return null;
        }
        if (!buf.getShape().equals(param.getShape())) {
            throw new UserException("optimizer state for '" + key + "' has shape " + buf.getShape()
                    + " but the parameter has shape " + param.getShape()
                    + "; the checkpoint was saved for a different model, start without its optimizer state");
        }
        return stateOn(key, param.getDevice());
    }

    /** The state tensor of {@code key} on {@code device} (any shape, e.g. AdamW's step), or null before its first step. */
    final NDArray stateOn(String key, Device device) {
        NDArray buf = buffers.get(key);
        if (buf == null || buf.getDevice().equals(device)) {
            return buf;
        }
        NDArray moved = buf.toDevice(device, true);
        moved.attach(stateManager);
        buf.close();
        buffers.put(key, moved);
        return moved;
    }

    /** Keeps a copy of {@code value} as the buffer of {@code key} (its first step). */
    final NDArray newBuffer(String key, NDArray value) {
        NDArray buf = value.duplicate();
        return keep(key, buf);
    }

    /** Keeps {@code created} (made for this state, e.g. zeros) as the state tensor of {@code key}. */
    final NDArray keep(String key, NDArray created) {
        created.attach(stateManager);
        buffers.put(key, created);
        return created;
    }

    /** The manager state tensors live in (created at the first step or restore). */
    final NDManager stateManager() {
        return stateManager;
    }

    /** Results of ops whose first operand is a buffer attach to the state manager; move them to the step. */
    static NDArray inStep(NDArray temporary, NDManager tmp) {
        temporary.attach(tmp);
        return temporary;
    }

    /**
     * The state tensors keyed by parameter name (and slot): live views owned by this optimizer; copy them to keep them past
     * the next step or {@link #close()}.
     */
    @Override
    public final Map<String, NDArray> state() {
        return Collections.unmodifiableMap(buffers);
    }

    /**
     * Replaces the buffers with copies of {@code state} (as {@link #state()} returned it, possibly from a
     * checkpoint); a run continued from it follows the uninterrupted trajectory exactly. Buffers on another device
     * move to the parameters' device at the next step; shapes are checked then.
     */
    @Override
    public final void loadState(Map<String, NDArray> state) {
        ensureOpen();
        Map<String, NDArray> checked = checkedState(state);
        buffers.values().forEach(NDArray::close);
        buffers.clear();
        cleared();
        for (Map.Entry<String, NDArray> e : checked.entrySet()) {
            NDArray source = e.getValue();
            ensureStateManager(source.getDevice());
            keep(e.getKey(), restored(e.getKey(), source, stateManager));
        }
    }

    /**
     * {@code state} checked before anything is replaced (a bad checkpoint leaves the optimizer as it was), in the
     * order the state is to be kept. By default, as given.
     */
    Map<String, NDArray> checkedState(Map<String, NDArray> state) {
        return state;
    }

    /** The copy of {@code source} to keep as the state of {@code key}, created in {@code manager}. By default a copy. */
    NDArray restored(String key, NDArray source, NDManager manager) {
        return source.duplicate(); // toDevice(sameDevice, true) may alias in DJL
    }

    @Override
    public final long stepCount() {
        return stepCount;
    }

    @Override
    public final void setStepCount(long steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("step count must be >= 0, got " + steps);
        }
        stepCount = steps;
    }

    /** Called when the state is dropped (restore, close), for state a subclass mirrors on the host. */
    void cleared() {}

    private void ensureStateManager(Device device) {
        if (stateManager == null) {
            stateManager = NDManager.newBaseManager(device);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("this " + name + " optimizer is closed");
        }
    }

    /** Frees the state. */
    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            buffers.clear();
            cleared();
            if (stateManager != null) {
                stateManager.close();
            }
        }
    }
}
