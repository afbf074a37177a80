package io.moco4j.data;

import java.util.random.RandomGenerator;

/** Tiny view transforms for loader tests (the real augmentations live in data.augment). */
final class TestTransforms {
    private TestTransforms() {}

    /** Pixels / 255 in CHW, with no randomness; the image must already have the output size. */
    static ViewTransform toTensor(int size) {
        return new ViewTransform() {
            @Override public int height() { return size; }
            @Override public int width() { return size; }
            @Override public void apply(RgbImage image, RandomGenerator rng, float[] out, int offset) {
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < size; y++) {
                        for (int x = 0; x < size; x++) {
                            out[offset + (c * size + y) * size + x] = image.get(x, y, c) / 255f;
                        }
                    }
                }
            }
        };
    }

    /** Like {@link #toTensor} plus one random offset per view drawn from the sample's generator. */
    static ViewTransform randomShift(int size) {
        ViewTransform base = toTensor(size);
        return new ViewTransform() {
            @Override public int height() { return size; }
            @Override public int width() { return size; }
            @Override public void apply(RgbImage image, RandomGenerator rng, float[] out, int offset) {
                base.apply(image, rng, out, offset);
                float shift = rng.nextFloat();
                for (int i = 0; i < 3 * size * size; i++) {
                    out[offset + i] += shift;
                }
            }
        };
    }
}
