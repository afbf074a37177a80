package io.moco4j.api;

import java.util.List;

/**
 * Nearest-neighbour search by cosine similarity over rows {@code 0..size()-1}: the exact {@link EmbeddingIndex}, or
 * an approximate one such as {@code io.moco4j.index.LuceneVectorIndex} (HNSW, persistent). Both return the same
 * {@link Neighbor} results (row id and cosine similarity), best first, so a caller can switch between them.
 */
public interface NeighborSearch {
    /** Number of rows. */
    int size();

    /** Length of every row and query. */
    int dimension();

    /** Row {@code id} as stored (L2-normalised; a copy). */
    float[] vector(int id);

    /** The {@code k} rows most similar to {@code query} (any scale), best first; fewer when there are fewer rows. */
    List<Neighbor> search(float[] query, int k);

    /** The {@code k} nearest rows of row {@code id}, leaving that row out. */
    List<Neighbor> neighborsOf(int id, int k);
}
