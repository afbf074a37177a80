package io.moco4j.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.Gradients;
import io.moco4j.util.UserException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Stochastic gradient descent with exactly the update of {@code torch.optim.SGD} (single parameter
 * group, {@code maximize=False}):
 *
 * <pre>
 *   d   = grad + weightDecay * p                       (coupled L2 decay; skipped when 0)
 *   buf = d                         on a parameter's first step with momentum
 *   buf = momentum * buf + (1 - dampening) * d         afterwards
 *   d   = nesterov ? d + momentum * buf : buf          (only when momentum != 0)
 *   p  -= lr * d
 * </pre>
 *
 * <p>Parameters are updated in place through detached views, so a step never builds an autograd graph
 * (even when called inside a {@code GradientCollector}). Temporaries live in a per-step sub-manager;
 * the momentum buffers live in this optimizer's own manager, on the parameters' device, and are freed
 * by {@link #close()}. Parameters that do not require a gradient are skipped. Note that DJL reports a
 * parameter that received no backward pass as having a zero gradient, so it still gets weight decay
 * and momentum, as torch does after {@code zero_grad(set_to_none=False)}.
 */
public final class Sgd implements Optimizer {
    private final SgdConfig config;
    private final WeightDecayRule decayRule;
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    private NDManager stateManager;
    private long stepCount;
    private boolean closed;

    public Sgd(SgdConfig config) {
        this(config, WeightDecayRule.ALL);
    }

    /** @param decayRule which parameters get weight decay; {@link WeightDecayRule#ALL} as in official MoCo */
    public Sgd(SgdConfig config, WeightDecayRule decayRule) {
        this.config = config;
        this.decayRule = decayRule;
    }

    public SgdConfig config() {
        return config;
    }

    /**
     * Applies one update with learning rate {@code lr} to every parameter that requires a gradient,
     * reading {@link NDArray#getGradient()}. Keys name the parameters (state_dict keys) and key the
     * momentum buffers, so they must be stable from step to step.
     */
    @Override
    public void step(Map<String, NDArray> params, double lr) {
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

    private void update(String name, NDArray param, double lr, NDManager tmp) {
        NDArray grad = param.getGradient();
        grad.attach(tmp);
        // A detached view shares the parameter's storage, so in-place ops on it update the parameter
        // without autograd objecting to in-place changes of a leaf that requires a gradient.
        NDArray data = param.stopGradient();
        data.attach(tmp);

        // Scalars are passed as float: torch casts its Python-float multipliers to the tensor's dtype,
        // while a double would make DJL create a float64 scalar and promote 0-dim parameters.
        NDArray d = grad;
        if (config.weightDecay() != 0 && decayRule.decays(name, param.getShape())) {
            d = grad.add(data.mul((float) config.weightDecay()));
        }
        if (config.momentum() != 0) {
            NDArray buf = buffers.get(name);
            if (buf == null) {
                buf = d.duplicate();
                buf.attach(stateManager);
                buffers.put(name, buf);
            } else {
                buf = onDeviceOf(name, buf, param);
                buf.muli((float) config.momentum());
                buf.addi(config.dampening() == 0 ? d : d.mul((float) (1 - config.dampening())));
            }
            d = config.nesterov() ? d.add(inStep(buf.mul((float) config.momentum()), tmp)) : buf;
        }
        data.subi(inStep(d.mul((float) lr), tmp));
    }

    /** Results of ops whose first operand is a buffer attach to the state manager; move them to the step. */
    private static NDArray inStep(NDArray temporary, NDManager tmp) {
        temporary.attach(tmp);
        return temporary;
    }

    private NDArray onDeviceOf(String name, NDArray buf, NDArray param) {
        if (!buf.getShape().equals(param.getShape())) {
            throw new UserException("optimizer state for '" + name + "' has shape " + buf.getShape()
                    + " but the parameter has shape " + param.getShape()
                    + "; the checkpoint was saved for a different model, start without its optimizer state");
        }
        if (buf.getDevice().equals(param.getDevice())) {
            return buf;
        }
        NDArray moved = buf.toDevice(param.getDevice(), true);
        moved.attach(stateManager);
        buf.close();
        buffers.put(name, moved);
        return moved;
    }

    /**
     * Sets the gradients of {@code params} to zero in place, like torch's
     * {@code optimizer.zero_grad(set_to_none=False)}. DJL's PyTorch engine accumulates gradients over
     * backward passes, so call this before each backward pass.
     */
    public static void zeroGrad(Map<String, NDArray> params) {
        Gradients.zero(params.values());
    }

    /**
     * The momentum buffers keyed by parameter name (torch's {@code state[p]["momentum_buffer"]}). The
     * map and its arrays are live views owned by this optimizer: copy them to keep them past the next
     * step or {@link #close()}.
     */
    @Override
    public Map<String, NDArray> state() {
        return Collections.unmodifiableMap(buffers);
    }

    /** Number of {@link #step} calls so far (or as restored by {@link #setStepCount}). */
    @Override
    public long stepCount() {
        return stepCount;
    }

    @Override
    public void setStepCount(long steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("step count must be >= 0, got " + steps);
        }
        stepCount = steps;
    }

    /**
     * Replaces the momentum buffers with copies of {@code state} (as returned by {@link #state()},
     * possibly read back from a checkpoint). Continuing from restored state gives exactly the
     * trajectory of an uninterrupted run. Buffers on another device move to the parameters' device
     * at the next step; shapes are checked then.
     */
    @Override
    public void loadState(Map<String, NDArray> state) {
        ensureOpen();
        clearBuffers();
        for (Map.Entry<String, NDArray> e : state.entrySet()) {
            NDArray source = e.getValue();
            ensureStateManager(source.getDevice());
            NDArray copy = source.duplicate(); // toDevice(sameDevice, true) may alias in DJL
            copy.attach(stateManager);
            buffers.put(e.getKey(), copy);
        }
    }

    private void ensureStateManager(Device device) {
        if (stateManager == null) {
            stateManager = NDManager.newBaseManager(device);
        }
    }

    private void clearBuffers() {
        buffers.values().forEach(NDArray::close);
        buffers.clear();
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("this Sgd optimizer is closed");
        }
    }

    /** Frees the momentum buffers. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            buffers.clear();
            if (stateManager != null) {
                stateManager.close();
            }
        }
    }
}
