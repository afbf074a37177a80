package io.moco4j.util;

import java.util.random.RandomGenerator;

/** Standard normal samples that do not depend on the JDK version's {@code nextGaussian} algorithm. */
public final class Gaussians {
    private Gaussians() {}

    /** One N(0, 1) sample by Box-Muller from two uniforms of {@code rng}. */
    public static double next(RandomGenerator rng) {
        double u = 1.0 - rng.nextDouble();
        double v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}
