package io.moco4j.optim;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Adam with decoupled weight decay, exactly the update of {@code torch.optim.AdamW} (torch 1.13, single parameter
 * group, {@code amsgrad=False}, {@code maximize=False}), per parameter p with gradient g:
 *
 * <pre>
 *   step += 1
 *   p        *= 1 - lr * weightDecay                      (decoupled decay, on every trained parameter)
 *   exp_avg   = beta1 * exp_avg    + (1 - beta1) * g
 *   exp_avg_sq= beta2 * exp_avg_sq + (1 - beta2) * g * g
 *   denom     = sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps
 *   p        -= lr / (1 - beta1^step) * exp_avg / denom
 * </pre>
 *
 * The official MoCo v3 builds {@code AdamW(model.parameters(), lr, weight_decay=wd)}: one group, so every
 * parameter that gets a gradient is decayed, biases, LayerNorm and the cls token included; parameters without a
 * gradient (frozen ones, the momentum encoder) are skipped entirely, as here: pass only trained parameters, and
 * those that do not require a gradient are skipped.
 *
 * <p>State, as torch's {@code state[p]}: {@code <name>.exp_avg}, {@code <name>.exp_avg_sq} (zeros before the
 * first step) and {@code <name>.step}, a float32 scalar as torch 1.13 keeps it (exact up to 2^24 steps). The
 * step count used for bias correction is mirrored on the host, so a step needs no device-to-host read. Memory as
 * {@link Sgd}: state in this optimizer's own manager on the parameters' device, the parameters updated in place
 * through detached views (no autograd graph), and each parameter's temporaries in a sub-manager closed right after
 * its update, so a step's extra memory is a few copies of the largest parameter, not of the whole model.
 */
public final class AdamW implements Optimizer {
    private static final String EXP_AVG = ".exp_avg";
    private static final String EXP_AVG_SQ = ".exp_avg_sq";
    private static final String STEP = ".step";

    private final AdamWConfig config;
    private final Map<String, Slot> slots = new LinkedHashMap<>();
    private final Map<String, NDArray> view = new LinkedHashMap<>();
    private NDManager stateManager;
    private long stepCount;
    private boolean closed;

    /** One parameter's state; {@code steps} mirrors the {@code step} tensor on the host. */
    private static final class Slot {
        NDArray expAvg;
        NDArray expAvgSq;
        NDArray step;
        long steps;
    }

    public AdamW(AdamWConfig config) {
        this.config = config;
    }

    public AdamWConfig config() {
        return config;
    }

    @Override
    public void step(Map<String, NDArray> params, double lr) {
        ensureOpen();
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + lr);
        }
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray param = e.getValue();
            if (param.hasGradient()) {
                ensureStateManager(param.getDevice());
                try (NDManager tmp = stateManager.newSubManager(param.getDevice())) {
                    update(e.getKey(), param, lr, tmp);
                }
            }
        }
        stepCount++;
    }

    private void update(String name, NDArray param, double lr, NDManager tmp) {
        NDArray grad = param.getGradient();
        grad.attach(tmp);
        NDArray data = param.stopGradient(); // shares storage: in-place ops update the parameter, no graph
        data.attach(tmp);
        Slot s = slotFor(name, param);
        s.steps++;
        try (NDArray one = tmp.create(1f)) {
            s.step.addi(one);
        }
        // float scalars: torch casts its Python-float multipliers to the tensor's dtype
        data.muli((float) (1 - lr * config.weightDecay()));
        s.expAvg.muli((float) config.beta1()).addi(grad.mul((float) (1 - config.beta1())));
        s.expAvgSq.muli((float) config.beta2()).addi(grad.mul(grad).muli((float) (1 - config.beta2())));
        double biasCorrection1 = 1 - Math.pow(config.beta1(), s.steps);
        double biasCorrection2 = 1 - Math.pow(config.beta2(), s.steps);
        double stepSize = lr / biasCorrection1;
        NDArray denom = inStep(s.expAvgSq.sqrt(), tmp).divi((float) Math.sqrt(biasCorrection2)).addi((float) config.eps());
        data.subi(inStep(s.expAvg.div(denom), tmp).muli((float) stepSize));
    }

    /** Results of ops whose first operand is a state tensor attach to the state manager; move them to the step. */
    private static NDArray inStep(NDArray temporary, NDManager tmp) {
        temporary.attach(tmp);
        return temporary;
    }

    private Slot slotFor(String name, NDArray param) {
        Slot s = slots.get(name);
        if (s == null) {
            s = new Slot();
            s.expAvg = stateManager.zeros(param.getShape(), param.getDataType(), param.getDevice());
            s.expAvgSq = stateManager.zeros(param.getShape(), param.getDataType(), param.getDevice());
            s.step = stateManager.zeros(new Shape(), DataType.FLOAT32, param.getDevice());
            put(name, s);
            return s;
        }
        if (!s.expAvg.getShape().equals(param.getShape()) || !s.expAvgSq.getShape().equals(param.getShape())) {
            throw new UserException("optimizer state for '" + name + "' has shape " + s.expAvg.getShape()
                    + " but the parameter has shape " + param.getShape()
                    + "; the checkpoint was saved for a different model, start without its optimizer state");
        }
        if (!s.expAvg.getDevice().equals(param.getDevice())) {
            s.expAvg = moved(s.expAvg, param.getDevice());
            s.expAvgSq = moved(s.expAvgSq, param.getDevice());
            s.step = moved(s.step, param.getDevice());
            put(name, s);
        }
        return s;
    }

    private NDArray moved(NDArray a, Device device) {
        NDArray m = a.toDevice(device, true);
        m.attach(stateManager);
        a.close();
        return m;
    }

    private void put(String name, Slot s) {
        slots.put(name, s);
        view.put(name + EXP_AVG, s.expAvg);
        view.put(name + EXP_AVG_SQ, s.expAvgSq);
        view.put(name + STEP, s.step);
    }

    /**
     * Live view of the state: per stepped parameter {@code <name>.exp_avg}, {@code <name>.exp_avg_sq} and
     * {@code <name>.step}, in the order parameters were first stepped. Copy the arrays to keep them.
     */
    @Override
    public Map<String, NDArray> state() {
        return Collections.unmodifiableMap(view);
    }

    /**
     * Replaces the state with copies of {@code state} (as {@link #state()} returned it, or read back from a
     * checkpoint): every parameter needs all three entries. Continuing gives exactly the uninterrupted trajectory.
     */
    @Override
    public void loadState(Map<String, NDArray> state) {
        ensureOpen();
        Map<String, NDArray[]> byParam = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : state.entrySet()) {
            String k = e.getKey();
            int which = k.endsWith(EXP_AVG_SQ) ? 1 : k.endsWith(EXP_AVG) ? 0 : k.endsWith(STEP) ? 2 : -1;
            if (which < 0) {
                throw new UserException("AdamW state entry '" + k + "' is not <parameter>.exp_avg, .exp_avg_sq or .step;"
                        + " the optimizer state is not AdamW's, start without it (or use the optimizer it was saved by)");
            }
            String name = k.substring(0, k.length() - (which == 0 ? EXP_AVG : which == 1 ? EXP_AVG_SQ : STEP).length());
            byParam.computeIfAbsent(name, n -> new NDArray[3])[which] = e.getValue();
        }
        for (Map.Entry<String, NDArray[]> e : byParam.entrySet()) {
            NDArray[] t = e.getValue();
            if (t[0] == null || t[1] == null || t[2] == null) {
                throw new UserException("AdamW state for '" + e.getKey() + "' lacks one of exp_avg, exp_avg_sq and step;"
                        + " the saved optimizer state is incomplete, start without it");
            }
            if (!t[0].getShape().equals(t[1].getShape()) || t[2].getShape().size() != 1) {
                throw new UserException("AdamW state for '" + e.getKey() + "' has exp_avg " + t[0].getShape()
                        + ", exp_avg_sq " + t[1].getShape() + " and step " + t[2].getShape()
                        + "; the saved optimizer state is corrupt, start without it");
            }
        }
        clear();
        for (Map.Entry<String, NDArray[]> e : byParam.entrySet()) {
            NDArray[] t = e.getValue();
            ensureStateManager(t[0].getDevice());
            Slot s = new Slot();
            s.expAvg = copy(t[0]);
            s.expAvgSq = copy(t[1]);
            try (NDArray steps = t[2].toType(DataType.FLOAT64, true)) {
                s.steps = Math.round(steps.reshape(1).getDouble(0));
            }
            s.step = stateManager.zeros(new Shape(), DataType.FLOAT32, t[0].getDevice());
            s.step.addi((float) s.steps);
            put(e.getKey(), s);
        }
    }

    private NDArray copy(NDArray source) {
        NDArray c = source.duplicate(); // toDevice(sameDevice, true) may alias in DJL
        c.attach(stateManager);
        return c;
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

    private void clear() {
        for (Slot s : slots.values()) {
            s.expAvg.close();
            s.expAvgSq.close();
            s.step.close();
        }
        slots.clear();
        view.clear();
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("this AdamW optimizer is closed");
        }
    }

    /** Frees the state. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            slots.clear();
            view.clear();
            if (stateManager != null) {
                stateManager.close();
            }
        }
    }
}
