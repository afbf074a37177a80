package io.moco4j.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A network whose state is a flat, ordered map of named tensors with PyTorch state_dict keys
 * ({@code conv1.weight}, {@code bn1.running_mean}, {@code layer1.0.conv1.weight}, ..., {@code fc.weight}).
 *
 * <p>We keep the state explicit (rather than inside DJL Blocks) so that checkpoints map one to one
 * onto torchvision and the official MoCo code, and so the momentum update, copying and
 * saving are plain loops over named tensors. All tensors live in {@link #manager()}.
 */
public interface Network extends AutoCloseable {

    /**
     * Runs the network. With {@code training} true, BatchNorm uses batch statistics and updates its
     * running statistics; with false it uses the running statistics.
     */
    NDArray forward(NDArray input, boolean training);

    /** Trainable parameters, in state_dict order. */
    LinkedHashMap<String, NDArray> parameters();

    /** Non-trainable state (BN running_mean, running_var, num_batches_tracked), in state_dict order. */
    LinkedHashMap<String, NDArray> buffers();

    /** Parameters and buffers interleaved exactly as PyTorch's {@code state_dict()} orders them. */
    LinkedHashMap<String, NDArray> stateDict();

    /**
     * Copies values (not references) from {@code source} into this network's tensors.
     * With {@code strict}, missing or unexpected keys and any shape mismatch are errors.
     */
    void loadStateDict(Map<String, NDArray> source, boolean strict);

    /** The manager that owns every parameter and buffer. */
    NDManager manager();

    default Device device() {
        return manager().getDevice();
    }

    @Override
    void close();
}
