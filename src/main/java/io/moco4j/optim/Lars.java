package io.moco4j.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;

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
public final class Lars extends NamedStateOptimizer {
    private final LarsConfig config;

    public Lars(LarsConfig config) {
        super("LARS");
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
    void update(String name, NDArray param, double lr, NDManager tmp) {
        NDArray grad = param.getGradient();
        grad.attach(tmp);
        // a detached view shares the parameter's storage: in-place ops on it update the parameter without autograd
        NDArray data = param.stopGradient();
        data.attach(tmp);

        // float scalars, as torch casts its Python floats to the tensor's dtype (a double would promote to float64),
        // each made once per step (scalar)
        NDArray dp = grad;
        if (adapts(param.getShape())) {
            boolean owned = false; // whether dp is this step's temporary (then it is scaled in place: one pass less)
            if (config.weightDecay() != 0) {
                dp = grad.add(data.mul(scalar((float) config.weightDecay())));
                owned = true;
            }
            NDArray paramNorm = data.norm();
            NDArray updateNorm = dp.norm();
            NDArray zero = scalar(0f);
            NDArray bothPositive = paramNorm.gt(zero).logicalAnd(updateNorm.gt(zero));
            NDArray ratio = paramNorm.mul(scalar((float) config.trustCoefficient())).div(updateNorm);
            NDArray trust = NDArrays.where(bothPositive, ratio, scalar(1f)); // norms are 0-dim float32, as 1 is
            dp = owned ? dp.muli(trust) : dp.mul(trust);
        }
        NDArray mu = buffer(name, param);
        if (mu == null) {
            // torch starts mu at zeros: 0 * momentum + dp is exactly dp
            mu = newBuffer(name, dp);
        } else {
            mu.muli(scalar((float) config.momentum()));
            mu.addi(dp);
        }
        data.subi(inStep(mu.mul(scalar((float) lr)), tmp)); // the product attached to the buffer's (state) manager
    }
}
