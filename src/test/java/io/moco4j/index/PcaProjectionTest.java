package io.moco4j.index;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The PCA recovers principal axes planted in generated data, and survives the round trip through its file. */
class PcaProjectionTest {
    static double gaussian(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    /** d random orthonormal vectors (Gram-Schmidt of Gaussian draws). */
    static double[][] orthonormalBasis(int d, SplittableRandom r) {
        double[][] q = new double[d][d];
        for (int k = 0; k < d; k++) {
            for (int j = 0; j < d; j++) {
                q[k][j] = gaussian(r);
            }
            for (int p = 0; p < k; p++) {
                double dot = 0;
                for (int j = 0; j < d; j++) {
                    dot += q[k][j] * q[p][j];
                }
                for (int j = 0; j < d; j++) {
                    q[k][j] -= dot * q[p][j];
                }
            }
            double norm = 0;
            for (int j = 0; j < d; j++) {
                norm += q[k][j] * q[k][j];
            }
            for (int j = 0; j < d; j++) {
                q[k][j] /= Math.sqrt(norm);
            }
        }
        return q;
    }

    @Test
    void recoversPlantedAxesUpToSignWithTheirVariances() {
        int d = 10;
        int n = 4000;
        SplittableRandom r = new SplittableRandom(3);
        double[][] q = orthonormalBasis(d, r);
        double[] sd = {5, 3, 2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3};
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] x = new float[d];
            for (int j = 0; j < d; j++) {
                x[j] = (float) (4 * q[9][j]); // an offset the centring must remove
            }
            for (int k = 0; k < d; k++) {
                double z = sd[k] * gaussian(r);
                for (int j = 0; j < d; j++) {
                    x[j] += (float) (z * q[k][j]);
                }
            }
            rows.add(x);
        }
        PcaProjection pca = PcaProjection.fit(rows, 3);
        assertEquals(3, pca.outputDimension());
        for (int k = 0; k < 3; k++) {
            float[] c = pca.component(k);
            double dot = 0;
            for (int j = 0; j < d; j++) {
                dot += c[j] * q[k][j];
            }
            // Sampling error of an eigenvector (Anderson's asymptotic variance, sum over j of l_k l_j / (n (l_k - l_j)^2))
            // is about 0.025 rad for the second axis at n = 4000; 0.99 allows 0.14 rad, over 5 standard deviations.
            assertTrue(Math.abs(dot) > 0.99, "component " + k + " . planted axis = " + dot);
            // A variance estimate's relative sampling error is sqrt(2 / n) = 2.2%; 10% is 4.5 standard deviations.
            assertEquals(sd[k] * sd[k], pca.variance(k), 0.1 * sd[k] * sd[k], "variance of component " + k);
        }
        // A point 2 units along the first axis from the centre projects to about (+-2, 0, 0).
        float[] p = new float[d];
        for (int j = 0; j < d; j++) {
            p[j] = (float) (4 * q[9][j] + 2 * q[0][j]);
        }
        float[] y = pca.project(p);
        assertEquals(2, Math.abs(y[0]), 0.1, "centre error sd/sqrt(n) ~ 0.08 per axis at most, plus the axis angle");
        assertEquals(0, y[1], 0.2);
        assertEquals(0, y[2], 0.2);
    }

    @Test
    void theFileRoundTripsAndADamagedOneIsRefusedWithOneLine(@TempDir Path tmp) throws Exception {
        SplittableRandom r = new SplittableRandom(8);
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            float[] x = new float[6];
            for (int j = 0; j < 6; j++) {
                x[j] = (float) gaussian(r);
            }
            rows.add(x);
        }
        PcaProjection pca = PcaProjection.fitUnit(rows, 2);
        Path file = tmp.resolve("pca-2.bin");
        String sha = pca.write(file);
        PcaProjection back = PcaProjection.read(file, sha);
        for (float[] x : rows) {
            assertArrayEquals(pca.projectUnit(x), back.projectUnit(x));
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 3] ^= 1;
        Files.write(file, bytes);
        UserException e = assertThrows(UserException.class, () -> PcaProjection.read(file, sha));
        assertTrue(e.getMessage().contains("--rebuild") && !e.getMessage().contains("\n"), e.getMessage());
        assertThrows(UserException.class, () -> PcaProjection.fit(rows, 6), "as many components as dimensions is no projection");
    }
}
