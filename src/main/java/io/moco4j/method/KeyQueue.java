package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.Gaussians;
import java.util.SplittableRandom;

/**
 * The MoCo dictionary: a FIFO of K L2-normalised keys, one row per key ({@code K x dim}; the official
 * code stores the transpose). Each step's keys overwrite the oldest rows at the pointer, which then
 * advances by the batch size and wraps at K. K must be a multiple of the batch (checked at config time).
 */
public final class KeyQueue implements AutoCloseable {
    private final NDManager manager;
    private final NDArray keys;
    private int pointer;

    private KeyQueue(NDManager manager, NDArray keys, int pointer) {
        this.manager = manager;
        this.keys = keys;
        this.pointer = pointer;
    }

    /** A queue of random unit vectors, as the reference initialises it; values depend only on {@code seed}. */
    public static KeyQueue random(NDManager parent, int size, int dim, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[] values = new float[size * dim];
        for (int r = 0; r < size; r++) {
            double norm = 0;
            for (int c = 0; c < dim; c++) {
                double v = Gaussians.next(rng);
                values[r * dim + c] = (float) v;
                norm += v * v;
            }
            float inv = (float) (1.0 / Math.max(Math.sqrt(norm), 1e-12));
            for (int c = 0; c < dim; c++) {
                values[r * dim + c] *= inv;
            }
        }
        NDManager manager = parent.newSubManager();
        return new KeyQueue(manager, manager.create(values, new Shape(size, dim)), 0);
    }

    /** Restores a queue from saved keys (copied into a new manager) and pointer. */
    public static KeyQueue restore(NDManager parent, NDArray savedKeys, int pointer) {
        NDManager manager = parent.newSubManager();
        // A host round trip gives an independent copy on our device whatever manager the input lives in
        // (toDevice(same device, copy) returns the same array, and attach would steal it).
        NDArray keys = manager.create(savedKeys.toFloatArray(), savedKeys.getShape());
        if (pointer < 0 || pointer >= keys.getShape().get(0)) {
            throw new IllegalArgumentException("queue pointer " + pointer + " outside [0, " + keys.getShape().get(0) + ")");
        }
        return new KeyQueue(manager, keys, pointer);
    }

    /** The current keys, {@code K x dim}. Do not modify or close. */
    public NDArray keys() {
        return keys;
    }

    public int pointer() {
        return pointer;
    }

    public int size() {
        return Math.toIntExact(keys.getShape().get(0));
    }

    public int dim() {
        return Math.toIntExact(keys.getShape().get(1));
    }

    /** Writes {@code batchKeys} (B x dim, no gradient) over the oldest rows and advances the pointer. */
    public void enqueue(NDArray batchKeys) {
        int b = Math.toIntExact(batchKeys.getShape().get(0));
        if (size() % b != 0) {
            throw new IllegalArgumentException("queue size " + size() + " is not a multiple of the key batch " + b);
        }
        keys.set(new NDIndex("{}:{}", pointer, pointer + b), batchKeys);
        pointer = (pointer + b) % size();
    }

    @Override
    public void close() {
        manager.close();
    }
}
