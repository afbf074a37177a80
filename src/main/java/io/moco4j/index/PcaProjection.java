package io.moco4j.index;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.util.UserException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;

/**
 * A linear projection onto the first {@code n} principal components of a set of vectors: {@code y = W (x - mean)},
 * the rows of {@code W} the unit eigenvectors of the sample covariance with the largest eigenvalues, largest first.
 * It lets features wider than Lucene's HNSW cap (ResNet-50's 2048) be indexed in a space learned from the data
 * instead of being cut.
 *
 * <p>The covariance is formed here (double sums, rows in parallel); its eigenvectors come from Apache Commons
 * Math's {@link EigenDecomposition} (symmetric: Householder tridiagonalisation and QL; DJL has no eigen solver).
 * Each component's sign is fixed (its largest coordinate positive), so a fit is the same on every run.
 * {@link #projectUnit} is what the index uses: the cosine geometry of the search, so rows are unit-normalised before
 * the fit and before each projection, and the projected vectors are normalised again by the index writer.
 */
public final class PcaProjection {
    /** Rows a fit uses at most (the covariance cost grows with rows x dim^2). */
    public static final int MAX_FIT_ROWS = 10_000;
    private static final String MAGIC = "moco4j-pca-1";

    private final double[] mean;
    private final float[][] components;
    private final double[] variances;
    private final int fitRows;

    private PcaProjection(double[] mean, float[][] components, double[] variances, int fitRows) {
        this.mean = mean;
        this.components = components;
        this.variances = variances;
        this.fitRows = fitRows;
    }

    /** The first {@code n} principal components of {@code rows} (all of the same length). */
    public static PcaProjection fit(List<float[]> rows, int n) {
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("a PCA needs rows to fit");
        }
        int d = rows.get(0).length;
        if (n < 1 || n >= d) {
            throw new UserException("--pca " + n + " is not valid for " + d + "-d embeddings; use 1.." + (d - 1));
        }
        int m = rows.size();
        double[] mean = new double[d];
        for (float[] r : rows) {
            if (r.length != d) {
                throw new IllegalArgumentException("rows of " + r.length + " and " + d + " values");
            }
            for (int j = 0; j < d; j++) {
                mean[j] += r[j];
            }
        }
        for (int j = 0; j < d; j++) {
            mean[j] /= m;
        }
        // centred columns, so each covariance entry is one contiguous dot product
        double[][] cols = new double[d][m];
        for (int i = 0; i < m; i++) {
            float[] r = rows.get(i);
            for (int j = 0; j < d; j++) {
                cols[j][i] = r[j] - mean[j];
            }
        }
        double[][] cov = new double[d][d];
        IntStream.range(0, d).parallel().forEach(a -> {
            for (int b = a; b < d; b++) {
                double s = 0;
                double[] ca = cols[a];
                double[] cb = cols[b];
                for (int i = 0; i < m; i++) {
                    s += ca[i] * cb[i];
                }
                cov[a][b] = s / Math.max(1, m - 1);
            }
        });
        for (int a = 0; a < d; a++) {
            for (int b = 0; b < a; b++) {
                cov[a][b] = cov[b][a];
            }
        }
        EigenDecomposition eig = new EigenDecomposition(new Array2DRowRealMatrix(cov, false));
        double[] values = eig.getRealEigenvalues();
        Integer[] order = new Integer[d];
        for (int i = 0; i < d; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (x, y) -> Double.compare(values[y], values[x]));
        float[][] comps = new float[n][d];
        double[] vars = new double[n];
        for (int k = 0; k < n; k++) {
            double[] v = eig.getEigenvector(order[k]).toArray();
            int big = 0;
            for (int j = 1; j < d; j++) {
                if (Math.abs(v[j]) > Math.abs(v[big])) {
                    big = j;
                }
            }
            double sign = v[big] < 0 ? -1 : 1;
            for (int j = 0; j < d; j++) {
                comps[k][j] = (float) (sign * v[j]);
            }
            vars[k] = values[order[k]];
        }
        return new PcaProjection(mean, comps, vars, m);
    }

    /** As {@link #fit}, on the unit-normalised rows (what the cosine search sees). */
    public static PcaProjection fitUnit(List<float[]> rows, int n) {
        return fit(rows.stream().map(EmbeddingIndex::normalised).toList(), n);
    }

    /** {@code W (x - mean)}. */
    public float[] project(float[] x) {
        if (x.length != mean.length) {
            throw new IllegalArgumentException("a " + x.length + "-d vector for a PCA of " + mean.length + "-d rows");
        }
        double[] c = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            c[j] = x[j] - mean[j];
        }
        float[] y = new float[components.length];
        for (int k = 0; k < components.length; k++) {
            float[] w = components[k];
            double s = 0;
            for (int j = 0; j < c.length; j++) {
                s += w[j] * c[j];
            }
            y[k] = (float) s;
        }
        return y;
    }

    /** The projection of the unit-normalised {@code x} (the index normalises the result again). */
    public float[] projectUnit(float[] x) {
        return project(EmbeddingIndex.normalised(x));
    }

    public int inputDimension() {
        return mean.length;
    }

    public int outputDimension() {
        return components.length;
    }

    /** Component {@code k} (unit length), a copy. */
    public float[] component(int k) {
        return components[k].clone();
    }

    /** The variance of the fitted rows along component {@code k}. */
    public double variance(int k) {
        return variances[k];
    }

    public int fitRows() {
        return fitRows;
    }

    /** Writes the projection to {@code file} (through a temporary file and a rename) and returns its SHA-256. */
    public String write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        MessageDigest sha = sha256();
        try (OutputStream raw = Files.newOutputStream(tmp);
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(new DigestOutputStream(raw, sha)))) {
            out.writeUTF(MAGIC);
            out.writeInt(mean.length);
            out.writeInt(components.length);
            out.writeInt(fitRows);
            for (double v : mean) {
                out.writeDouble(v);
            }
            for (double v : variances) {
                out.writeDouble(v);
            }
            for (float[] c : components) {
                for (float v : c) {
                    out.writeFloat(v);
                }
            }
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * Reads a projection written by {@link #write}.
     *
     * @param expectedSha256 the hash the index's commit recorded; a file that does not match is refused
     */
    public static PcaProjection read(Path file, String expectedSha256) {
        MessageDigest sha = sha256();
        try (InputStream raw = Files.newInputStream(file);
             DataInputStream in = new DataInputStream(new BufferedInputStream(new DigestInputStream(raw, sha)))) {
            if (!MAGIC.equals(in.readUTF())) {
                throw new IOException("not a MoCo4J PCA file");
            }
            int d = in.readInt();
            int n = in.readInt();
            int rows = in.readInt();
            if (d < 2 || n < 1 || n >= d || d > 1 << 20) {
                throw new IOException("bad sizes " + d + " x " + n);
            }
            double[] mean = new double[d];
            for (int j = 0; j < d; j++) {
                mean[j] = in.readDouble();
            }
            double[] vars = new double[n];
            for (int k = 0; k < n; k++) {
                vars[k] = in.readDouble();
            }
            float[][] comps = new float[n][d];
            for (float[] c : comps) {
                for (int j = 0; j < d; j++) {
                    c[j] = in.readFloat();
                }
            }
            if (in.read() != -1) {
                throw new IOException("trailing bytes");
            }
            String got = HexFormat.of().formatHex(sha.digest());
            if (expectedSha256 != null && !expectedSha256.equals(got)) {
                throw new IOException("its SHA-256 is " + got + ", the index recorded " + expectedSha256);
            }
            return new PcaProjection(mean, comps, vars, rows);
        } catch (IOException e) {
            throw new UserException("cannot read the index's PCA projection " + file + " (" + e.getMessage()
                    + "); build the index again with ./moco4j index --rebuild");
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
