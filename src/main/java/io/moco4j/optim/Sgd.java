package io.moco4j.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.Gradients;
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
public final class Sgd extends NamedStateOptimizer {
    private final SgdConfig config;
    private final WeightDecayRule decayRule;

    public Sgd(SgdConfig config) {
        this(config, WeightDecayRule.ALL);
    }

    /** @param decayRule which parameters get weight decay; {@link WeightDecayRule#ALL} as in official MoCo */
    public Sgd(SgdConfig config, WeightDecayRule decayRule) {
        super("Sgd");
        this.config = config;
        this.decayRule = decayRule;
    }

    public SgdConfig config() {
        return config;
    }

    @Override
    void update(String name, NDArray param, double lr, NDManager tmp) {
        NDArray grad = param.getGradient();
        grad.attach(tmp);
        // A detached view shares the parameter's storage, so in-place ops on it update the parameter
        // without autograd objecting to in-place changes of a leaf that requires a gradient.
        NDArray data = param.stopGradient();
        data.attach(tmp);

        // Scalars are passed as float: torch casts its Python-float multipliers to the tensor's dtype,
        // while a double would make DJL create a float64 scalar and promote 0-dim parameters; each is made once per
        // step (scalar).
        NDArray d = grad;
        if (config.weightDecay() != 0 && decayRule.decays(name, param.getShape())) {
            d = grad.add(data.mul(scalar((float) config.weightDecay())));
        }
        if (config.momentum() != 0) {
            NDArray buf = buffer(name, param);
            if (buf == null) {
                buf = newBuffer(name, d);
            } else {
                buf.muli(scalar((float) config.momentum()));
                buf.addi(config.dampening() == 0 ? d : d.mul(scalar((float) (1 - config.dampening()))));
            }
            d = config.nesterov() ? d.add(inStep(buf.mul(scalar((float) config.momentum())), tmp)) : buf;
        }
        data.subi(inStep(d.mul(scalar((float) lr)), tmp));
    }

    /**
     * Sets the gradients of {@code params} to zero in place, like torch's
     * {@code optimizer.zero_grad(set_to_none=False)}. DJL's PyTorch engine accumulates gradients over
     * backward passes, so call this before each backward pass.
     */
    public static void zeroGrad(Map<String, NDArray> params) {
        Gradients.zero(params.values());
    }
}
