package io.moco4j.optim;

import ai.djl.ndarray.types.Shape;

/**
 * Decides which parameters {@link Sgd} applies weight decay to. The official MoCo code decays every
 * parameter ({@link #ALL}, our default); {@link #MATRICES_ONLY} is the common alternative that spares
 * biases and normalisation scales/shifts, recognised by being one-dimensional (names alone cannot tell
 * a BatchNorm weight from a convolution weight).
 */
@FunctionalInterface
public interface WeightDecayRule {

    boolean decays(String name, Shape shape);

    /** Every parameter is decayed (torch.optim.SGD with one parameter group; official MoCo). */
    WeightDecayRule ALL = (name, shape) -> true;

    /** Only parameters with two or more dimensions (conv and linear weights) are decayed. */
    WeightDecayRule MATRICES_ONLY = (name, shape) -> shape.dimension() > 1;
}
