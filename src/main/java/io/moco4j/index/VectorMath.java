package io.moco4j.index;

/** The few vector operations the index needs (cosine via unit vectors). */
final class VectorMath {
    private VectorMath() {}

    /** A unit-length copy of {@code v} (a zero vector stays zero and scores 0 against everything). */
    static float[] normalised(float[] v) {
        double norm = 0;
        for (float x : v) {
            norm += (double) x * x;
        }
        float inv = norm > 0 ? (float) (1.0 / Math.sqrt(norm)) : 0f;
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] * inv;
        }
        return out;
    }

    static float dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return (float) s;
    }
}
