package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * Creates the initial value of a {@link StateSlot} the way torchvision / torch.nn do, drawing the random
 * numbers on the host so that every device (and every libtorch build) gets identical weights for a seed.
 *
 * <p>Each tensor has its own random stream derived from the seed and its key, so the weights of a tensor do
 * not depend on which other tensors exist (e.g. changing the head leaves the backbone unchanged).
 */
final class StateInitializer {
    private StateInitializer() {}

    static NDArray create(StateSlot slot, NDManager manager, long seed) {
        Shape shape = new Shape(slot.shape());
        return switch (slot.init()) {
            case ONES -> manager.ones(shape);
            case ZEROS -> manager.zeros(shape);
            case COUNTER -> manager.create(0L);
            case CONV_KAIMING_FAN_OUT, NORMAL -> manager.create(normal(slot, seed), shape);
            case LINEAR_DEFAULT, CONV_TORCH_DEFAULT, UNIFORM -> manager.create(uniform(slot, seed), shape);
            case SINCOS_2D -> {
                int grid = (int) Math.round(Math.sqrt(shape.get(1) - 1));
                yield SinCosPositionEmbedding.create(manager, grid, grid, Math.toIntExact(shape.get(2)));
            }
        };
    }

    private static float[] normal(StateSlot slot, long seed) {
        SplittableRandom rng = stream(seed, slot.key());
        float[] v = new float[Math.toIntExact(slot.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rng.nextGaussian() * slot.scale());
        }
        return v;
    }

    private static float[] uniform(StateSlot slot, long seed) {
        SplittableRandom rng = stream(seed, slot.key());
        float[] v = new float[Math.toIntExact(slot.size())];
        double bound = slot.scale();
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((2 * rng.nextDouble() - 1) * bound);
        }
        return v;
    }

    private static SplittableRandom stream(long seed, String key) {
        long h = 0xcbf29ce484222325L; // FNV-1a over the key, then mixed with the seed
        for (byte b : key.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ h);
    }
}
