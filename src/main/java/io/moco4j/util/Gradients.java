package io.moco4j.util;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/** Gradient housekeeping shared by the optimizer and the networks. */
public final class Gradients {
    private Gradients() {}

    /**
     * Sets every accumulated gradient to zero in place. DJL's gradient collector does not reset them,
     * so this runs before each backward pass. No arrays are left behind: {@code getGradient()} returns a
     * new handle each call and {@code set(..., 0)} would allocate a scalar in the parameter's manager.
     */
    public static void zero(Iterable<NDArray> params) {
        try (NoGrad ignored = NoGrad.enter()) {
            for (NDArray p : params) {
                if (!p.hasGradient()) {
                    continue;
                }
                if (p instanceof PtNDArray pt) {
                    JniUtils.zeroGrad(pt);
                } else {
                    try (NDArray g = p.getGradient()) {
                        g.subi(g);
                    }
                }
            }
        }
    }
}
