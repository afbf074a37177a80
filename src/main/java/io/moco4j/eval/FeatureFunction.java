package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import io.moco4j.model.Encoder;
import io.moco4j.util.NoGrad;

/**
 * Maps a batch of normalised images (N, 3, H, W) to features (N, D). Implementations run the network
 * in eval mode (BatchNorm with running statistics) and must not change any of its state; callers wrap
 * calls in {@link NoGrad}. The result may be attached to the images' manager (the usual DJL rule).
 */
@FunctionalInterface
public interface FeatureFunction {
    NDArray apply(NDArray images);

    /** The encoder in eval mode: pooled backbone features ({@code features}) or the head output ({@code forward}). */
    static FeatureFunction of(Encoder encoder, FeatureLayer layer) {
        return layer == FeatureLayer.BACKBONE ? x -> encoder.features(x, false) : x -> encoder.forward(x, false);
    }
}
