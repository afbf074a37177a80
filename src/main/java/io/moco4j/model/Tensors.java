package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/** Small tensor helpers shared by the model classes (and the collectives, which copy into gradients). */
public final class Tensors {
    private Tensors() {}

    /**
     * Overwrites {@code dst}'s values with {@code src}'s in place (libtorch {@code copy_} semantics: exact,
     * across devices and dtypes); {@code dst} keeps its identity, manager, dtype and gradient flag.
     * Call inside {@link NoGrad} if {@code dst} requires a gradient.
     */
    public static void copyInto(NDArray dst, NDArray src) {
        if (!dst.getShape().equals(src.getShape())) {
            throw new IllegalArgumentException("cannot copy " + src.getShape() + " into " + dst.getShape());
        }
        NDArray s = src;
        boolean temp = false;
        if (!s.getDevice().equals(dst.getDevice())) {
            s = s.toDevice(dst.getDevice(), true);
            temp = true;
        }
        if (s.getDataType() != dst.getDataType()) {
            NDArray t = s.toType(dst.getDataType(), true);
            if (temp) {
                s.close();
            }
            s = t;
            temp = true;
        }
        try {
            if (dst.getShape().isScalar()) {
                // a 0-dim tensor has no slices to index; 0 * old + new is exact for the finite counters stored so
                dst.muli(0).addi(s);
            } else {
                dst.set(new NDIndex("..."), s);
            }
        } finally {
            if (temp) {
                s.close();
            }
        }
    }
}
