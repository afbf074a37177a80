package io.moco4j.index;

/** The dot product of two unit vectors (their cosine); unit vectors come from {@link io.moco4j.api.EmbeddingIndex#normalised}. */
final class VectorMath {
    private VectorMath() {}

    static float dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return (float) s;
    }
}
