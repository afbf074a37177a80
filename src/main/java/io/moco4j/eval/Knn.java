package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.moco4j.util.UserException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Weighted k-nearest-neighbour classification of features, the protocol of InstDisc (Wu et al. 2018)
 * used by the MoCo CIFAR-10 demo's {@code knn_predict}:
 * <ol>
 *   <li>L2-normalise bank and query features (eps 1e-12, like {@code F.normalize});</li>
 *   <li>cosine similarity of each query to every bank feature; keep the k most similar;</li>
 *   <li>each neighbour votes for its label with weight {@code exp(sim / t)};</li>
 *   <li>classes are ranked by their summed weight.</li>
 * </ol>
 * Queries are processed in chunks so memory is bounded by {@code chunk x bankSize} similarities; all
 * tensor work stays on the features' device and only the (chunk, k) neighbour lists come to the host.
 *
 * <p>Ties: among bank features with equal similarity at the k-th place, which ones are kept is
 * libtorch's {@code topk} choice (unspecified, as in PyTorch). Classes with equal summed weight are
 * ranked lower class index first (PyTorch's {@code argsort} leaves this unspecified). Weights and
 * class scores are accumulated in double precision.
 */
public final class Knn {
    private static final Logger LOG = LoggerFactory.getLogger(Knn.class);
    private static final double NORM_EPS = 1e-12;

    private Knn() {}

    public static KnnResult evaluate(NDArray trainFeatures, long[] trainLabels, NDArray testFeatures, long[] testLabels,
                                     int numClasses, int k, double t, int chunk) {
        validate(trainFeatures, trainLabels, testFeatures, testLabels, numClasses, k, t, chunk);
        long bankSize = trainFeatures.getShape().get(0);
        int kUsed = (int) Math.min(k, bankSize);
        if (kUsed < k) {
            LOG.warn("kNN: k={} is larger than the feature bank ({} samples); using k={}", k, bankSize, kUsed);
        }
        int queries = Math.toIntExact(testFeatures.getShape().get(0));
        int shown = Math.min(5, numClasses);
        int[] predictions = new int[queries];
        int[][] topClasses = new int[queries][];
        long correct1 = 0;
        long correct5 = 0;
        try (NDManager bankManager = trainFeatures.getManager().newSubManager()) {
            NDArray bank = trainFeatures.normalize(2, 1, NORM_EPS);
            bank.attach(bankManager);
            NDArray bankT = bank.transpose();
            for (int from = 0; from < queries; from += chunk) {
                int to = Math.min(queries, from + chunk);
                int rows = to - from;
                float[] sims;
                long[] neighbours;
                try (NDManager step = bankManager.newSubManager()) {
                    NDArray q = testFeatures.get(new NDIndex(from + ":" + to));
                    q.attach(step);
                    NDArray qn = q.normalize(2, 1, NORM_EPS);
                    qn.attach(step);
                    NDArray sim = qn.matMul(bankT);
                    sim.attach(step);
                    NDList top = sim.topK(kUsed, 1, true, true);
                    top.attach(step);
                    sims = top.get(0).toFloatArray();
                    neighbours = top.get(1).toLongArray();
                }
                double[] scores = new double[rows * numClasses];
                for (int r = 0; r < rows; r++) {
                    for (int j = 0; j < kUsed; j++) {
                        int n = r * kUsed + j;
                        int label = (int) trainLabels[Math.toIntExact(neighbours[n])];
                        scores[r * numClasses + label] += Math.exp(sims[n] / t);
                    }
                }
                for (int r = 0; r < rows; r++) {
                    int off = r * numClasses;
                    int[] best = ClassRanking.top(scores, off, numClasses, shown);
                    predictions[from + r] = best[0];
                    topClasses[from + r] = best;
                    int rank = ClassRanking.rankOf(scores, off, numClasses, (int) testLabels[from + r]);
                    correct1 += rank < 1 ? 1 : 0;
                    correct5 += rank < shown ? 1 : 0;
                }
            }
        }
        return new KnnResult(100.0 * correct1 / queries, 100.0 * correct5 / queries, predictions, topClasses, kUsed, t);
    }

    private static void validate(NDArray train, long[] trainLabels, NDArray test, long[] testLabels,
                                 int numClasses, int k, double t, int chunk) {
        if (k < 1) {
            throw new UserException("kNN k must be at least 1 (got " + k + "); the usual value is 200");
        }
        if (!(t > 0) || Double.isInfinite(t)) {
            throw new UserException("kNN temperature must be a positive number (got " + t + "); the usual value is 0.1");
        }
        if (chunk < 1) {
            throw new UserException("kNN chunk size must be at least 1 (got " + chunk + ")");
        }
        if (numClasses < 1) {
            throw new UserException("kNN needs at least one class (got " + numClasses + ")");
        }
        if (train.getShape().dimension() != 2 || test.getShape().dimension() != 2) {
            throw new IllegalArgumentException("kNN features must be 2-D (N, D); got " + train.getShape() + " and " + test.getShape());
        }
        if (train.getShape().get(1) != test.getShape().get(1)) {
            throw new IllegalArgumentException("kNN bank and query features differ in dimension: " + train.getShape() + " vs " + test.getShape());
        }
        if (train.getShape().get(0) < 1) {
            throw new UserException("the kNN feature bank is empty; give a training set with at least one image");
        }
        if (train.getShape().get(0) != trainLabels.length || test.getShape().get(0) != testLabels.length) {
            throw new IllegalArgumentException("kNN labels do not match features: " + trainLabels.length + " bank labels for "
                    + train.getShape() + ", " + testLabels.length + " query labels for " + test.getShape());
        }
        if (testLabels.length == 0) {
            throw new UserException("the kNN query set is empty; give a validation set with at least one image");
        }
        checkLabels("bank (training)", trainLabels, numClasses);
        checkLabels("query (validation)", testLabels, numClasses);
    }

    static void checkLabels(String which, long[] labels, int numClasses) {
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0) {
                throw new UserException("the " + which + " set has unlabeled images (e.g. #" + i
                        + "); this evaluation needs labels: use a folder with one sub-folder per class");
            }
            if (labels[i] >= numClasses) {
                throw new UserException("the " + which + " set has label " + labels[i] + " at #" + i + " but only "
                        + numClasses + " classes; use the same class folders for training and validation");
            }
        }
    }
}
