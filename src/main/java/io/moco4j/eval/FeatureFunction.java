package io.moco4j.eval;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import io.moco4j.model.Encoder;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Float32;
import io.moco4j.precision.Precision;
import io.moco4j.util.NoGrad;

/**
 * Maps a batch of normalised images (N, 3, H, W) to features (N, D). Implementations run the network
 * in eval mode (BatchNorm with running statistics) and must not change any of its state; callers wrap
 * calls in {@link NoGrad}. The result may be attached to the images' manager (the usual DJL rule).
 */
@FunctionalInterface
public interface FeatureFunction {
    NDArray apply(NDArray images);

    /**
     * These features computed under libtorch's autocast in {@code precision} on {@code device} ({@code auto}
     * resolved there), returned as float32: features that leave the model are float32 whatever the precision.
     * fp32 returns this function unchanged.
     */
    default FeatureFunction inPrecision(Precision precision, Device device) {
        if (!precision.resolve(device).mixed()) {
            return this;
        }
        return images -> {
            NDArray y;
            try (Autocast ignored = Autocast.enter(device, precision)) {
                y = apply(images);
            }
            return Float32.of(y);
        };
    }

    /** The encoder in eval mode: pooled backbone features ({@code features}) or the head output ({@code forward}). */
    static FeatureFunction of(Encoder encoder, FeatureLayer layer) {
        return layer == FeatureLayer.BACKBONE ? x -> encoder.features(x, false) : x -> encoder.forward(x, false);
    }
}
