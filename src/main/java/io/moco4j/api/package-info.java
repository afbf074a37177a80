/**
 * The public Java API for services that use a trained encoder: {@link io.moco4j.api.Encoder} loads a MoCo4J
 * checkpoint (or PyTorch weights that {@code ./moco4j import} understands) and turns images into embeddings with
 * the checkpoint's own evaluation preprocessing; {@link io.moco4j.api.EmbeddingIndex} finds the nearest
 * embeddings by cosine similarity, exactly, and returns {@link io.moco4j.api.Neighbor}s.
 *
 * <p>The command line ({@code embed}, {@code knn}, {@code lincls}, {@code serve}) loads encoders through this
 * package too, so there is one way from a checkpoint file to features.
 */
package io.moco4j.api;
