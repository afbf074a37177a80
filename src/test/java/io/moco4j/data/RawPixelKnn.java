package io.moco4j.data;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;

/**
 * Nearest-neighbour classification on raw pixels (cosine similarity, majority vote of the k nearest training
 * images): the baseline that tells how much class information colour and position alone give away.
 */
final class RawPixelKnn {
    private static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    private static final float[] STD = {0.229f, 0.224f, 0.225f};

    private RawPixelKnn() {}

    static float[] features(ImageDataset ds) throws IOException {
        RgbImage first = ds.load(0);
        int d = first.width() * first.height() * 3;
        float[] out = new float[ds.size() * d];
        for (int i = 0; i < ds.size(); i++) {
            byte[] p = ds.load(i).pixels();
            for (int j = 0; j < d; j++) {
                int c = j % 3;
                out[i * d + j] = ((p[j] & 0xff) / 255f - MEAN[c]) / STD[c];
            }
        }
        return out;
    }

    /** Top-1 accuracy in percent. */
    static double accuracy(ImageDataset train, ImageDataset test, int k, int classes) throws IOException {
        float[] a = features(train);
        float[] b = features(test);
        int d = a.length / train.size();
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray ta = m.create(a, new Shape(train.size(), d));
            NDArray tb = m.create(b, new Shape(test.size(), d));
            ta = ta.div(ta.norm(new int[] {1}, true));
            tb = tb.div(tb.norm(new int[] {1}, true));
            NDArray sim = tb.matMul(ta.transpose());
            NDArray top = sim.argSort(1, false).get(":, :" + k);
            long[] idx = top.toLongArray();
            int correct = 0;
            for (int i = 0; i < test.size(); i++) {
                int[] votes = new int[classes];
                for (int j = 0; j < k; j++) {
                    votes[train.label((int) idx[i * k + j])]++;
                }
                int best = 0;
                for (int c = 1; c < classes; c++) {
                    if (votes[c] > votes[best]) {
                        best = c;
                    }
                }
                if (best == test.label(i)) {
                    correct++;
                }
            }
            return 100.0 * correct / test.size();
        }
    }
}
