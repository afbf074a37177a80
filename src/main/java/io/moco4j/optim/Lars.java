package io.moco4j.optim;

/** TEMPORARY placeholder until the v3core branch lands. */
public final class Lars {
    public Lars(LarsConfig c) {
        throw new UnsupportedOperationException("placeholder");
    }
}
