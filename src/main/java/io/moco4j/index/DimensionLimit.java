package io.moco4j.index;

import io.moco4j.util.UserException;

/** Lucene's HNSW formats refuse vectors wider than 1024 values; wider embeddings get a choice, never a truncation. */
public final class DimensionLimit {
    private DimensionLimit() {}

    /** @throws UserException one line naming the choices when {@code dim} is above {@code max} */
    public static void check(int dim, int max) {
        if (dim > max) {
            throw new UserException("the embeddings are " + dim + "-d, above Lucene's HNSW limit of " + max
                    + " values; index the head output instead (--features head) or a PCA projection learned from the"
                    + " images (--pca N, e.g. --pca 256)");
        }
        if (dim < 1) {
            throw new IllegalArgumentException("a vector index needs at least one dimension, got " + dim);
        }
    }
}
