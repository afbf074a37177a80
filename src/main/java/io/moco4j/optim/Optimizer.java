package io.moco4j.optim;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * An optimizer over named parameters with saveable state: {@link Sgd} (MoCo v1/v2), LARS (MoCo v3 with
 * ResNet) and AdamW (MoCo v3 with ViT) share this shape so the training loop and checkpoints treat them alike.
 *
 * <p>{@link #step} reads each parameter's gradient and updates the parameter in place (never building an
 * autograd graph). {@link #state()} names every state tensor {@code <parameter>} or {@code <parameter>.<slot>}
 * (e.g. {@code conv1.weight.exp_avg}); {@link #loadState} takes such a map back, so a checkpoint round trip
 * continues the trajectory exactly.
 */
public interface Optimizer extends AutoCloseable {

    /** One update of every parameter that has a gradient, with learning rate {@code lr}. */
    void step(Map<String, NDArray> params, double lr);

    /** Live view of the state tensors (owned by the optimizer; copy to keep them). */
    Map<String, NDArray> state();

    /** Replaces the state with copies of {@code state} as {@link #state()} returned it. */
    void loadState(Map<String, NDArray> state);

    /** Number of {@link #step} calls so far (or as restored). */
    long stepCount();

    void setStepCount(long steps);

    @Override
    void close();
}
