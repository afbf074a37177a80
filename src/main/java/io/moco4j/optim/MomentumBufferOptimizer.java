package io.moco4j.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.UserException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@link Sgd} and {@link Lars} share: one momentum buffer per parameter, keyed by the parameter's name, in this
 * optimizer's own manager on the parameters' device; the step loop over parameters that have a gradient, with a
 * per-step sub-manager for temporaries; state save/restore and the step count. Subclasses write only the update.
 */
abstract class MomentumBufferOptimizer implements Optimizer {
    private final String name;
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    private NDManager stateManager;
    private long stepCount;
    private boolean closed;

    /** @param name the optimizer's name in messages, e.g. "Sgd" */
    MomentumBufferOptimizer(String name) {
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
                for (Map.Entry<String, NDArray> e : params.entrySet()) {
                    NDArray param = e.getValue();
                    if (param.hasGradient()) {
                        update(e.getKey(), param, lr, stepManager);
                    }
                }
            }
        }
        stepCount++;
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
        if (buf.getDevice().equals(param.getDevice())) {
            return buf;
        }
        NDArray moved = buf.toDevice(param.getDevice(), true);
        moved.attach(stateManager);
        buf.close();
        buffers.put(key, moved);
        return moved;
    }

    /** Keeps a copy of {@code value} as the buffer of {@code key} (its first step). */
    final NDArray newBuffer(String key, NDArray value) {
        NDArray buf = value.duplicate();
        buf.attach(stateManager);
        buffers.put(key, buf);
        return buf;
    }

    /** Results of ops whose first operand is a buffer attach to the state manager; move them to the step. */
    static NDArray inStep(NDArray temporary, NDManager tmp) {
        temporary.attach(tmp);
        return temporary;
    }

    /**
     * The momentum buffers keyed by parameter name: live views owned by this optimizer; copy them to keep them past
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
        buffers.values().forEach(NDArray::close);
        buffers.clear();
        for (Map.Entry<String, NDArray> e : state.entrySet()) {
            NDArray source = e.getValue();
            ensureStateManager(source.getDevice());
            NDArray copy = source.duplicate(); // toDevice(sameDevice, true) may alias in DJL
            copy.attach(stateManager);
            buffers.put(e.getKey(), copy);
        }
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

    /** Frees the momentum buffers. */
    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            buffers.clear();
            if (stateManager != null) {
                stateManager.close();
            }
        }
    }
}
