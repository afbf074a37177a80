package io.moco4j.eval;

/**
 * Host-side ranking of class scores with a deterministic tie rule: higher score first, and among equal
 * scores the lower class index first (a stable descending sort). PyTorch's {@code topk}/{@code argsort}
 * leave the order of ties unspecified; fixing it makes our results reproducible across devices.
 */
final class ClassRanking {
    private ClassRanking() {}

    /** 0-based rank of class {@code label} among {@code scores[offset .. offset + classes)}. */
    static int rankOf(double[] scores, int offset, int classes, int label) {
        double s = scores[offset + label];
        int rank = 0;
        for (int c = 0; c < classes; c++) {
            double v = scores[offset + c];
            if (v > s || (v == s && c < label)) {
                rank++;
            }
        }
        return rank;
    }

    /** The first {@code n} classes in ranking order. */
    static int[] top(double[] scores, int offset, int classes, int n) {
        int[] out = new int[Math.min(n, classes)];
        boolean[] used = new boolean[classes];
        for (int r = 0; r < out.length; r++) {
            int best = -1;
            for (int c = 0; c < classes; c++) {
                if (!used[c] && (best < 0 || scores[offset + c] > scores[offset + best])) {
                    best = c;
                }
            }
            used[best] = true;
            out[r] = best;
        }
        return out;
    }
}
