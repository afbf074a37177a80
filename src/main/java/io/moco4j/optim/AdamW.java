package io.moco4j.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.HashMap;
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
 * its update, so a step's extra memory is a few copies of the largest parameter, not of the whole model. The life
 * cycle (state manager, step loop, restore, close) is {@link NamedStateOptimizer}'s.
 */
public final class AdamW extends NamedStateOptimizer {
    private static final String EXP_AVG = ".exp_avg";
    private static final String EXP_AVG_SQ = ".exp_avg_sq";
    private static final String STEP = ".step";

    private final AdamWConfig config;
    /** Each stepped parameter's step count, mirroring its {@code step} tensor on the host. */
    private final Map<String, Long> steps = new HashMap<>();

    public AdamW(AdamWConfig config) {
        super("AdamW");
        this.config = config;
    }

    public AdamWConfig config() {
        return config;
    }

    @Override
    void update(String name, NDArray param, double lr, NDManager stepManager) {
        try (NDManager tmp = stepManager.newSubManager(param.getDevice())) { // this parameter's temporaries only
            NDArray grad = param.getGradient();
            grad.attach(tmp);
            NDArray data = param.stopGradient(); // shares storage: in-place ops update the parameter, no graph
            data.attach(tmp);
            NDArray expAvg = buffer(name + EXP_AVG, param);
            if (expAvg == null) {
                expAvg = keep(name + EXP_AVG, stateManager().zeros(param.getShape(), param.getDataType(), param.getDevice()));
                keep(name + EXP_AVG_SQ, stateManager().zeros(param.getShape(), param.getDataType(), param.getDevice()));
                keep(name + STEP, stateManager().zeros(new Shape(), DataType.FLOAT32, param.getDevice()));
            }
            NDArray expAvgSq = buffer(name + EXP_AVG_SQ, param);
            NDArray step = stateOn(name + STEP, param.getDevice());
            long s = steps.merge(name, 1L, Long::sum);
            step.addi(scalar(1f));
            // float scalars: torch casts its Python-float multipliers to the tensor's dtype
            data.muli(scalar((float) (1 - lr * config.weightDecay())));
            expAvg.muli(scalar((float) config.beta1())).addi(grad.mul(scalar((float) (1 - config.beta1()))));
            expAvgSq.muli(scalar((float) config.beta2()))
                    .addi(grad.mul(grad).muli(scalar((float) (1 - config.beta2()))));
            double biasCorrection1 = 1 - Math.pow(config.beta1(), s);
            double biasCorrection2 = 1 - Math.pow(config.beta2(), s);
            double stepSize = lr / biasCorrection1;
            NDArray denom = inStep(expAvgSq.sqrt(), tmp).divi(scalar((float) Math.sqrt(biasCorrection2)))
                    .addi(scalar((float) config.eps()));
            data.subi(inStep(expAvg.div(denom), tmp).muli(scalar((float) stepSize)));
        }
    }

    /**
     * Every parameter needs all three entries ({@code <name>.exp_avg}, {@code .exp_avg_sq}, {@code .step}); they are
     * kept in that order per parameter, in the order parameters first appear.
     */
    @Override
    Map<String, NDArray> checkedState(Map<String, NDArray> state) {
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
        Map<String, NDArray> ordered = new LinkedHashMap<>();
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
            ordered.put(e.getKey() + EXP_AVG, t[0]);
            ordered.put(e.getKey() + EXP_AVG_SQ, t[1]);
            ordered.put(e.getKey() + STEP, t[2]);
        }
        return ordered;
    }

    /** A saved step (any dtype, one element) becomes a float32 scalar, as torch 1.13 keeps it, mirrored on the host. */
    @Override
    NDArray restored(String key, NDArray source, NDManager manager) {
        if (!key.endsWith(STEP)) {
            return super.restored(key, source, manager);
        }
        long s;
        try (NDArray asDouble = source.toType(DataType.FLOAT64, true)) {
            s = Math.round(asDouble.reshape(1).getDouble(0));
        }
        steps.put(key.substring(0, key.length() - STEP.length()), s);
        NDArray step = manager.zeros(new Shape(), DataType.FLOAT32, source.getDevice());
        step.addi((float) s);
        return step;
    }

    @Override
    void cleared() {
        steps.clear();
    }
}
