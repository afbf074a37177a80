package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class KnnTest {
    private NDManager manager;

    // Bank (unnormalised 2-D points) and labels. Normalised: b0=(1,0), b1=(0,1), b2=(.7071,.7071), b3=(-1,0), b4=(.6,.8).
    private static final float[] BANK = {1, 0, 0, 1, 1, 1, -1, 0, 3, 4};
    private static final long[] BANK_LABELS = {0, 1, 0, 2, 1};
    // Queries: q0=(2,0) -> (1,0); q1=(0,1); q2=(-1,0.1).
    private static final float[] QUERIES = {2, 0, 0, 1, -1, 0.1f};

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private NDArray bank() {
        return manager.create(BANK, new Shape(5, 2));
    }

    private NDArray queries() {
        return manager.create(QUERIES, new Shape(3, 2));
    }

    @Test
    void handComputedToySet() {
        // t = 0.5, k = 3. Cosine similarities, top 3 per query:
        // q0: b0 1, b2 .7071, b4 .6     -> class0 = e^2 + e^1.4142 = 11.50, class1 = e^1.2 = 3.32 -> predict 0
        // q1: b1 1, b4 .8, b2 .7071     -> class1 = e^2 + e^1.6 = 12.34, class0 = e^1.4142 = 4.11 -> predict 1
        // q2 (unit (-.9950, .0995)): b3 .9950, b1 .0995, b4 -.5174
        //                              -> class2 = e^1.990 = 7.32, class1 = e^.199 + e^-1.035 = 1.58 -> predict 2
        long[] labels = {0, 0, 1};
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, queries(), labels, 3, 3, 0.5, 100);
        assertArrayEquals(new int[] {0, 1, 2}, r.predictions());
        assertArrayEquals(new int[] {0, 1, 2}, r.topClasses()[0]);
        assertArrayEquals(new int[] {1, 0, 2}, r.topClasses()[1]);
        assertArrayEquals(new int[] {2, 1, 0}, r.topClasses()[2]);
        assertEquals(100.0 / 3, r.top1(), 1e-9);
        assertEquals(100.0, r.top5(), 1e-9); // only 3 classes: "top-5" is the top 3, always right
        assertEquals(3, r.k());
    }

    @Test
    void highTemperatureTurnsIntoMajorityVote() {
        // t = 100: all weights ~ e^0.01, so q2's two class-1 neighbours (b1, b4) outvote its one class-2 neighbour (b3).
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 1, 1}, 3, 3, 100, 100);
        assertEquals(1, r.predictions()[2]);
        assertEquals(0, r.predictions()[0]); // q0's neighbours b0, b2 (class 0) and b4 (class 1)
    }

    @Test
    void singleNeighbourIsNearestNeighbour() {
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 1, 2}, 3, 1, 0.1, 2);
        // nearest: q0 -> b0 (0), q1 -> b1 (1), q2 -> b3 (2)
        assertArrayEquals(new int[] {0, 1, 2}, r.predictions());
        assertEquals(100.0, r.top1(), 1e-9);
    }

    @Test
    void top5CountsRankWithTiesBrokenByLowerClassIndex() {
        // 7 classes; q0 (t=0.5, k=3) scores class0 11.50, class1 3.32, classes 2..6 zero (tied).
        // Ranking: 0, 1, 2, 3, 4, 5, 6 -> labels 0..4 are in the top 5, labels 5 and 6 are not.
        NDArray q = manager.create(new float[] {2, 0, 2, 0, 2, 0, 2, 0}, new Shape(4, 2));
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, q, new long[] {1, 4, 5, 6}, 7, 3, 0.5, 100);
        assertEquals(0.0, r.top1(), 1e-9);
        assertEquals(50.0, r.top5(), 1e-9);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, r.topClasses()[3]);
    }

    @Test
    void kLargerThanBankUsesWholeBank() {
        // k = 10 > 5: all neighbours vote. q0 sims: b0 1, b1 0, b2 .7071, b3 -1, b4 .6 (t = 0.5)
        // class0 = e^2 + e^1.4142 = 11.50, class1 = e^0 + e^1.2 = 4.32, class2 = e^-2 = 0.135
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {2, 2, 2}, 3, 10, 0.5, 100);
        assertEquals(5, r.k());
        assertArrayEquals(new int[] {0, 1, 2}, r.topClasses()[0]);
    }

    @Test
    void chunkedEqualsUnchunkedAndBruteForce() {
        Random rng = new Random(7);
        int n = 300;
        int m = 61;
        int d = 8;
        int classes = 10;
        float[] bank = gaussian(rng, n * d);
        float[] queries = gaussian(rng, m * d);
        long[] bankLabels = rng.longs(n, 0, classes).toArray();
        long[] queryLabels = rng.longs(m, 0, classes).toArray();
        int k = 20;
        double t = 0.1;
        KnnResult whole = Knn.evaluate(manager.create(bank, new Shape(n, d)), bankLabels,
                manager.create(queries, new Shape(m, d)), queryLabels, classes, k, t, 1000);
        for (int chunk : new int[] {1, 7, 60}) {
            KnnResult part = Knn.evaluate(manager.create(bank, new Shape(n, d)), bankLabels,
                    manager.create(queries, new Shape(m, d)), queryLabels, classes, k, t, chunk);
            assertArrayEquals(whole.predictions(), part.predictions(), "chunk " + chunk);
            assertEquals(whole.top1(), part.top1(), 0);
            assertEquals(whole.top5(), part.top5(), 0);
        }
        // Independent host-side computation in double precision.
        int[] expected = bruteForce(bank, bankLabels, queries, n, m, d, classes, k, t);
        assertArrayEquals(expected, whole.predictions());
        assertTrue(whole.top5() >= whole.top1());
    }

    @Test
    void badInputsAreClearErrors() {
        UserException unlabeled = assertThrows(UserException.class, () ->
                Knn.evaluate(bank(), new long[] {0, 1, -1, 2, 1}, queries(), new long[] {0, 0, 0}, 3, 3, 0.1, 10));
        assertTrue(unlabeled.getMessage().contains("unlabeled"), unlabeled.getMessage());
        UserException range = assertThrows(UserException.class, () ->
                Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 3, 0}, 3, 3, 0.1, 10));
        assertTrue(range.getMessage().contains("label 3"), range.getMessage());
        assertThrows(UserException.class, () -> Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 0, 0}, 3, 0, 0.1, 10));
        assertThrows(UserException.class, () -> Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 0, 0}, 3, 3, 0, 10));
        assertThrows(UserException.class, () -> Knn.evaluate(bank(), BANK_LABELS, queries(), new long[] {0, 0, 0}, 3, 3, 0.1, 0));
        assertThrows(IllegalArgumentException.class, () ->
                Knn.evaluate(bank(), BANK_LABELS, manager.create(new float[] {1, 2, 3}, new Shape(1, 3)), new long[] {0}, 3, 3, 0.1, 10));
        assertThrows(IllegalArgumentException.class, () ->
                Knn.evaluate(bank(), new long[] {0, 1}, queries(), new long[] {0, 0, 0}, 3, 3, 0.1, 10));
    }

    @Test
    void zeroFeatureDoesNotProduceNaN() {
        // F.normalize semantics: a zero vector stays zero (x / max(|x|, eps)), all similarities 0, weights equal.
        NDArray q = manager.create(new float[] {0, 0}, new Shape(1, 2));
        KnnResult r = Knn.evaluate(bank(), BANK_LABELS, q, new long[] {0}, 3, 5, 0.1, 10);
        // all five neighbours with weight e^0: class0 2, class1 2, class2 1 -> tie 0/1 broken to 0
        assertEquals(0, r.predictions()[0]);
        assertArrayEquals(new int[] {0, 1, 2}, r.topClasses()[0]);
    }

    private static float[] gaussian(Random rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    private static int[] bruteForce(float[] bank, long[] bankLabels, float[] queries, int n, int m, int d,
                                    int classes, int k, double t) {
        double[][] b = unit(bank, n, d);
        double[][] q = unit(queries, m, d);
        int[] out = new int[m];
        for (int i = 0; i < m; i++) {
            double[] sims = new double[n];
            Integer[] order = new Integer[n];
            for (int j = 0; j < n; j++) {
                for (int c = 0; c < d; c++) {
                    sims[j] += q[i][c] * b[j][c];
                }
                order[j] = j;
            }
            java.util.Arrays.sort(order, (x, y) -> Double.compare(sims[y], sims[x]));
            double[] score = new double[classes];
            for (int j = 0; j < k; j++) {
                score[(int) bankLabels[order[j]]] += Math.exp(sims[order[j]] / t);
            }
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (score[c] > score[best]) {
                    best = c;
                }
            }
            out[i] = best;
        }
        return out;
    }

    private static double[][] unit(float[] v, int n, int d) {
        double[][] out = new double[n][d];
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int c = 0; c < d; c++) {
                s += (double) v[i * d + c] * v[i * d + c];
            }
            for (int c = 0; c < d; c++) {
                out[i][c] = v[i * d + c] / Math.sqrt(s);
            }
        }
        return out;
    }
}
