package io.moco4j.data;

import java.util.random.RandomGenerator;

/**
 * Turns one decoded image into one training or evaluation view: the augmentations of a recipe followed
 * by to-tensor and normalisation. The loader calls it from several threads, each with its own
 * {@code rng} seeded from (seed, epoch, index, view), so results do not depend on the thread count.
 */
public interface ViewTransform {
    /** Output height in pixels. */
    int height();

    /** Output width in pixels. */
    int width();

    /** Augments {@code image} and writes the normalised CHW float32 view into {@code out[offset ..]}. */
    void apply(RgbImage image, RandomGenerator rng, float[] out, int offset);
}
