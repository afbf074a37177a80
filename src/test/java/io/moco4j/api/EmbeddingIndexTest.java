package io.moco4j.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.io.Npy;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddingIndexTest {
    @TempDir
    Path tmp;

    private static float[][] random(int n, int d, long seed) {
        Random r = new Random(seed);
        float[][] rows = new float[n][d];
        for (float[] row : rows) {
            for (int j = 0; j < d; j++) {
                row[j] = (float) r.nextGaussian();
            }
        }
        return rows;
    }

    /** Brute force in double precision: (id, cosine) sorted by score, then id. */
    private static List<double[]> bruteForce(float[][] rows, float[] q, int k, int exclude) {
        List<double[]> all = new ArrayList<>();
        for (int i = 0; i < rows.length; i++) {
            if (i == exclude) {
                continue;
            }
            double dot = 0, na = 0, nb = 0;
            for (int j = 0; j < q.length; j++) {
                dot += (double) rows[i][j] * q[j];
                na += (double) rows[i][j] * rows[i][j];
                nb += (double) q[j] * q[j];
            }
            all.add(new double[] {i, na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb)});
        }
        all.sort(Comparator.<double[]>comparingDouble(a -> -a[1]).thenComparingDouble(a -> a[0]));
        return all.subList(0, Math.min(k, all.size()));
    }

    private static void assertMatches(List<double[]> want, List<Neighbor> got, String what) {
        assertEquals(want.size(), got.size(), what + ": count");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i)[1], got.get(i).score(), 1e-5, what + ": score " + i);
            // Ids must match unless two brute-force scores are too close to order in float32.
            boolean nearTie = (i > 0 && Math.abs(want.get(i)[1] - want.get(i - 1)[1]) < 1e-6)
                    || (i + 1 < want.size() && Math.abs(want.get(i)[1] - want.get(i + 1)[1]) < 1e-6);
            if (!nearTie) {
                assertEquals((int) want.get(i)[0], got.get(i).id(), what + ": id at rank " + i);
            }
        }
    }

    @Test
    void topKEqualsBruteForceAcrossChunkBoundaries() {
        float[][] rows = random(1000, 17, 1);
        float[][] queries = random(20, 17, 2);
        for (int chunk : new int[] {1, 7, 64, 999, 1000, 4096}) {
            EmbeddingIndex index = EmbeddingIndex.of(rows, chunk);
            for (int q = 0; q < queries.length; q++) {
                for (int k : new int[] {1, 5, 63, 64, 65}) {
                    assertMatches(bruteForce(rows, queries[q], k, -1), index.search(queries[q], k), "chunk " + chunk + " k " + k);
                }
            }
        }
    }

    @Test
    void largeIndexUsesSeveralThreadsAndStaysExact() {
        float[][] rows = random(40_000, 64, 3); // 2.56M floats: above the parallel threshold
        EmbeddingIndex index = EmbeddingIndex.of(rows, 1000);
        float[][] queries = random(3, 64, 4);
        for (float[] q : queries) {
            assertMatches(bruteForce(rows, q, 20, -1), index.search(q, 20), "parallel");
        }
    }

    @Test
    void tiesGoToTheLowerIdAndKLargerThanNReturnsAll() {
        float[][] rows = {{1, 0}, {0, 1}, {2, 0}, {1, 0}, {-1, 0}, {3, 0}};
        for (int chunk : new int[] {1, 2, 4, 100}) {
            EmbeddingIndex index = EmbeddingIndex.of(rows, chunk);
            List<Neighbor> top = index.search(new float[] {5, 0}, 100);
            assertEquals(List.of(0, 2, 3, 5, 1, 4), top.stream().map(Neighbor::id).toList(), "chunk " + chunk);
            assertEquals(1.0f, top.get(0).score(), 1e-6f);
            assertEquals(-1.0f, top.get(5).score(), 1e-6f);
            assertEquals(List.of(0, 2), index.search(new float[] {1, 0}, 2).stream().map(Neighbor::id).toList());
        }
    }

    @Test
    void neighborsOfLeavesTheRowOut() {
        float[][] rows = random(300, 9, 5);
        EmbeddingIndex index = EmbeddingIndex.of(rows, 32);
        for (int id : new int[] {0, 31, 32, 299}) {
            List<Neighbor> nn = index.neighborsOf(id, 10);
            assertTrue(nn.stream().noneMatch(n -> n.id() == id));
            assertMatches(bruteForce(rows, rows[id], 10, id), nn, "row " + id);
        }
        assertEquals(299, index.neighborsOf(5, 1000).size());
    }

    @Test
    void zeroRowsScoreZeroAndVectorsAreNormalised() {
        EmbeddingIndex index = EmbeddingIndex.of(new float[][] {{0, 0, 0}, {3, 4, 0}});
        assertArrayEquals(new float[] {0.6f, 0.8f, 0}, index.vector(1), 1e-6f);
        List<Neighbor> top = index.search(new float[] {0, 1, 0}, 2);
        assertEquals(1, top.get(0).id());
        assertEquals(0f, top.get(1).score());
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {1, 2}, 1));
        assertThrows(IllegalArgumentException.class, () -> index.search(new float[] {1, 2, 3}, 0));
    }

    @Test
    void loadsAnNpyAsWritten() throws Exception {
        float[][] rows = random(5000, 12, 6);
        float[] flat = new float[5000 * 12];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i], 0, flat, i * 12, 12);
        }
        Path file = tmp.resolve("e.npy");
        Npy.writeFloat32(file, flat, 5000, 12);
        EmbeddingIndex loaded = EmbeddingIndex.load(file);
        assertEquals(5000, loaded.size());
        assertEquals(12, loaded.dimension());
        float[] q = random(1, 12, 7)[0];
        assertMatches(bruteForce(rows, q, 30, -1), loaded.search(q, 30), "loaded");

        Path ints = tmp.resolve("i.npy");
        Npy.writeInt64(ints, new long[] {1, 2}, 2);
        assertThrows(UserException.class, () -> EmbeddingIndex.load(ints));
        Path cut = tmp.resolve("cut.npy");
        byte[] all = Files.readAllBytes(file);
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 10));
        assertThrows(UserException.class, () -> EmbeddingIndex.load(cut));
        assertThrows(UserException.class, () -> EmbeddingIndex.load(tmp.resolve("none.npy")));
    }
}
