package io.moco4j.eval;

/**
 * Outcome of a weighted kNN evaluation.
 *
 * @param top1 percent of queries whose best-scoring class is the label
 * @param top5 percent of queries whose label is among the best min(5, numClasses) classes
 * @param predictions best class per query, in query order
 * @param topClasses the best min(5, numClasses) classes per query, best first
 * @param k the number of neighbours actually used (the requested k clamped to the bank size)
 * @param temperature the similarity temperature t of the weights exp(sim / t)
 */
public record KnnResult(double top1, double top5, int[] predictions, int[][] topClasses, int k, double temperature) {
    public int numQueries() {
        return predictions.length;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "kNN (k=%d, t=%s) on %d queries: top-1 %.2f%%, top-5 %.2f%%",
                k, temperature, predictions.length, top1, top5);
    }
}
