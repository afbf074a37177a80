package io.moco4j.serve;

import io.moco4j.api.NeighborSearch;
import java.util.SplittableRandom;

/**
 * A 2-D map of embeddings: their projection on the first two principal components (of the L2-normalised rows,
 * so distances follow the cosine geometry the search uses), scaled into [0, 1] on both axes.
 *
 * <p>Why PCA: the JVM t-SNE/UMAP implementations on Maven Central are either GPL (Smile) or unmaintained, and
 * PCA is exact, deterministic and fast (a few passes over the data). It preserves global structure rather than
 * local clusters, so classes overlap more than in a t-SNE picture; the neighbours panel is the exact view.
 *
 * <p>The components come from power iteration with deflation on the centred data, {@code v <- X^T (X v)}, never
 * forming the D x D covariance; the start vector is drawn from a fixed seed and each component's sign is fixed
 * (largest coordinate positive), so the map is the same on every run.
 */
final class Pca2d {
    private static final int ITERATIONS = 100;

    private Pca2d() {}

    /** Row i's map position is {@code (xy[2 i], xy[2 i + 1])}. */
    static float[] project(NeighborSearch index) {
        int n = index.size();
        int d = index.dimension();
        double[] mean = new double[d];
        for (int i = 0; i < n; i++) {
            float[] v = index.vector(i);
            for (int j = 0; j < d; j++) {
                mean[j] += v[j];
            }
        }
        for (int j = 0; j < d; j++) {
            mean[j] /= n;
        }
        double[] c1 = component(index, mean, null);
        double[] c2 = component(index, mean, c1);
        float[] xy = new float[2 * n];
        for (int i = 0; i < n; i++) {
            float[] v = index.vector(i);
            xy[2 * i] = (float) centredDot(v, mean, c1);
            xy[2 * i + 1] = (float) centredDot(v, mean, c2);
        }
        scale(xy, 0);
        scale(xy, 1);
        return xy;
    }

    private static double[] component(NeighborSearch index, double[] mean, double[] orthogonalTo) {
        int d = index.dimension();
        SplittableRandom rng = new SplittableRandom(orthogonalTo == null ? 1 : 2);
        double[] v = new double[d];
        for (int j = 0; j < d; j++) {
            v[j] = rng.nextDouble() - 0.5;
        }
        for (int it = 0; it < ITERATIONS; it++) {
            if (orthogonalTo != null) {
                removeProjection(v, orthogonalTo);
            }
            if (!normalise(v)) {
                return v; // all rows equal: no spread along any direction
            }
            double[] next = new double[d];
            for (int i = 0; i < index.size(); i++) {
                float[] row = index.vector(i);
                double s = centredDot(row, mean, v);
                for (int j = 0; j < d; j++) {
                    next[j] += s * (row[j] - mean[j]);
                }
            }
            v = next;
        }
        if (orthogonalTo != null) {
            removeProjection(v, orthogonalTo);
        }
        normalise(v);
        int largest = 0;
        for (int j = 1; j < d; j++) {
            if (Math.abs(v[j]) > Math.abs(v[largest])) {
                largest = j;
            }
        }
        if (v[largest] < 0) {
            for (int j = 0; j < d; j++) {
                v[j] = -v[j];
            }
        }
        return v;
    }

    private static double centredDot(float[] row, double[] mean, double[] v) {
        double s = 0;
        for (int j = 0; j < v.length; j++) {
            s += (row[j] - mean[j]) * v[j];
        }
        return s;
    }

    private static void removeProjection(double[] v, double[] u) {
        double s = 0;
        for (int j = 0; j < v.length; j++) {
            s += v[j] * u[j];
        }
        for (int j = 0; j < v.length; j++) {
            v[j] -= s * u[j];
        }
    }

    private static boolean normalise(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x * x;
        }
        if (s < 1e-30) {
            return false;
        }
        double inv = 1 / Math.sqrt(s);
        for (int j = 0; j < v.length; j++) {
            v[j] *= inv;
        }
        return true;
    }

    /** Maps axis {@code axis} of the interleaved points into [0, 1] (0.5 when all are equal). */
    private static void scale(float[] xy, int axis) {
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        for (int i = axis; i < xy.length; i += 2) {
            lo = Math.min(lo, xy[i]);
            hi = Math.max(hi, xy[i]);
        }
        float range = hi - lo;
        for (int i = axis; i < xy.length; i += 2) {
            xy[i] = range > 0 ? (xy[i] - lo) / range : 0.5f;
        }
    }
}
