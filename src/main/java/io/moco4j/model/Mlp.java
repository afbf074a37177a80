package io.moco4j.model;

import ai.djl.ndarray.NDManager;

/** TEMPORARY placeholder until the v3core branch lands. */
public abstract class Mlp implements Network {
    public static Mlp create(MlpSpec spec, NDManager parent, long seed) {
        throw new UnsupportedOperationException("placeholder");
    }
}
