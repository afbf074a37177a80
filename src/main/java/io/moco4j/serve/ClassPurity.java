package io.moco4j.serve;

import io.moco4j.api.NeighborSearch;
import io.moco4j.api.Neighbor;
import java.util.List;
import java.util.stream.IntStream;

/**
 * kNN purity of a labelled gallery: for each image, the fraction of its k nearest other images that share its
 * class; averaged over the images of each class and over all images. A quick reading of how well the embedding
 * groups the classes (1 = every neighbour of the same class, 1/C for a random embedding with C balanced classes).
 *
 * @param k neighbours per image
 * @param overall mean over all images
 * @param perClass mean over the images of each class, in label order (NaN for a class without images)
 */
record ClassPurity(int k, double overall, double[] perClass) {

    static ClassPurity of(NeighborSearch index, int[] labels, int classes, int k) {
        int n = labels.length;
        double[] perImage = new double[n];
        int kk = Math.min(k, n - 1);
        if (kk < 1) {
            return new ClassPurity(k, Double.NaN, new double[classes]);
        }
        IntStream.range(0, n).parallel().forEach(i -> {
            List<Neighbor> nn = index.neighborsOf(i, kk);
            int same = 0;
            for (Neighbor nb : nn) {
                same += labels[nb.id()] == labels[i] ? 1 : 0;
            }
            perImage[i] = (double) same / nn.size();
        });
        double[] sum = new double[classes];
        int[] count = new int[classes];
        double total = 0;
        for (int i = 0; i < n; i++) {
            sum[labels[i]] += perImage[i];
            count[labels[i]]++;
            total += perImage[i];
        }
        double[] per = new double[classes];
        for (int c = 0; c < classes; c++) {
            per[c] = count[c] == 0 ? Double.NaN : sum[c] / count[c];
        }
        return new ClassPurity(kk, total / n, per);
    }
}
