package io.moco4j.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.UserException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * LARS exactly as moco-v3's {@code moco/optimizer.py} (You et al. 2017, as used for MoCo v3 with ResNet):
 *
 * <pre>
 *   dp = grad
 *   if p has 2+ dimensions (conv and linear weights; not BN gamma/beta, biases or scalars):
 *       dp = dp + weightDecay * p
 *       q  = trust * |p| / |dp|      (1 when |p| or |dp| is 0)
 *       dp = q * dp
 *   mu = momentum * mu + dp         (mu starts at zeros)
 *   p -= lr * mu
 * </pre>
 *
 * <p>Norms are L2 over the whole tensor. The trust ratio is computed on the parameters' device (no host round
 * trip per parameter). As {@link Sgd}: parameters are updated in place through detached views, temporaries live
 * in a per-step sub-manager, the buffers in this optimizer's own manager on the parameters' device. Parameters
 * that do not require a gradient (the momentum encoder's) are skipped and never get a buffer, as torch skips
 * {@code grad is None}; a trained parameter that took no part in the backward pass has a zero gradient in DJL and
 * is stepped, as torch does after {@code zero_grad(set_to_none=False)}.
 */
public final class Lars implements Optimizer {
    private final LarsConfig config;
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    private NDManager stateManager;
    private long stepCount;
    private boolean closed;

    public Lars(LarsConfig config) {
        this.config = config;
    }

    public LarsConfig config() {
        return config;
    }

    /** Whether a parameter of this shape gets weight decay and trust scaling (moco-v3: {@code p.ndim > 1}). */
    public static boolean adapts(ai.djl.ndarray.types.Shape shape) {
        return shape.dimension() > 1;
    }

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
        // a detached view shares the parameter's storage: in-place ops on it update the parameter without autograd
        NDArray data = param.stopGradient();
        data.attach(tmp);

        // float scalars, as torch casts its Python floats to the tensor's dtype (a double would promote to float64)
        NDArray dp = grad;
        if (adapts(param.getShape())) {
            if (config.weightDecay() != 0) {
                dp = grad.add(data.mul((float) config.weightDecay()));
            }
            NDArray paramNorm = data.norm();
            NDArray updateNorm = dp.norm();
            NDArray bothPositive = paramNorm.gt(0f).logicalAnd(updateNorm.gt(0f));
            NDArray ratio = paramNorm.mul((float) config.trustCoefficient()).div(updateNorm);
            NDArray one = tmp.ones(paramNorm.getShape(), paramNorm.getDataType());
            dp = dp.mul(NDArrays.where(bothPositive, ratio, one));
        }
        NDArray mu = buffers.get(name);
        if (mu == null) {
            // torch starts mu at zeros: 0 * momentum + dp is exactly dp
            mu = dp.duplicate();
            mu.attach(stateManager);
            buffers.put(name, mu);
        } else {
            mu = onDeviceOf(name, mu, param);
            mu.muli((float) config.momentum());
            mu.addi(dp);
        }
        NDArray delta = mu.mul((float) lr);
        delta.attach(tmp); // the product attached to the buffer's (state) manager
        data.subi(delta);
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
     * The momentum buffers ({@code state[p]['mu']} in moco-v3) keyed by parameter name: live views owned by this
     * optimizer; copy them to keep them past the next step or {@link #close()}.
     */
    @Override
    public Map<String, NDArray> state() {
        return Collections.unmodifiableMap(buffers);
    }

    /**
     * Replaces the buffers with copies of {@code state} (as {@link #state()} returned it, possibly from a
     * checkpoint); a run continued from it follows the uninterrupted trajectory exactly. Buffers on another device
     * move to the parameters' device at the next step; shapes are checked then.
     */
    @Override
    public void loadState(Map<String, NDArray> state) {
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

    private void ensureStateManager(Device device) {
        if (stateManager == null) {
            stateManager = NDManager.newBaseManager(device);
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("this LARS optimizer is closed");
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
