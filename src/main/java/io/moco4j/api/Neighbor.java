package io.moco4j.api;

/**
 * One search result: the row of the {@link EmbeddingIndex} and its cosine similarity to the query.
 *
 * @param id the row index in the index (the order the embeddings were given in)
 * @param score cosine similarity in [-1, 1] (0 for a zero vector)
 */
public record Neighbor(int id, float score) {}
