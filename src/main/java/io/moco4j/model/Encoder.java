package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import java.util.LinkedHashMap;

/**
 * An image encoder: a backbone whose pooled (or cls-token) {@link #features} feed an optional head, whose
 * output {@link #forward} returns. MoCo trains it as the query encoder and keeps a copy as the key encoder;
 * kNN, the linear probe and embeddings read either output. {@link ResNet} with its v1/v2 head, and
 * {@link ProjectedEncoder} (any backbone plus a MoCo v3 projector) are the implementations.
 */
public interface Encoder extends Network {

    /** Backbone features (N, {@link #featureDim()}), before any head; attached to {@code x}'s manager. */
    NDArray features(NDArray x, boolean training);

    int featureDim();

    /** Width of {@link #forward}'s output (the feature width when there is no head). */
    int outputDim();

    /**
     * The parameters the optimizer trains: all {@link #parameters()} but those the architecture freezes
     * (moco-v3's {@code stop_grad_conv1} for a ViT's patch projection).
     */
    default LinkedHashMap<String, NDArray> trainableParameters() {
        return parameters();
    }

    /** A short human description, e.g. "ResNet-50 with a projector 2048-4096-256". */
    String describe();
}
