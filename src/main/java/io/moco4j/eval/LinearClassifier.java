package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.io.TensorArchive;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * The linear probe's classifier {@code y = x W^T + b} with torch's {@code nn.Linear} layout
 * ({@code fc.weight} (C, D), {@code fc.bias} (C)) and main_lincls.py's initialisation: weight drawn from
 * N(0, std) (std 0.01), bias zero. The draws come from {@code java.util.Random(seed)} on the host, so they
 * are the same on every device. Its tensors live in its own manager.
 */
public final class LinearClassifier implements AutoCloseable {
    public static final String WEIGHT = "fc.weight";
    public static final String BIAS = "fc.bias";
    private final NDManager manager;
    private final NDArray weight;
    private final NDArray bias;

    private LinearClassifier(NDManager manager, NDArray weight, NDArray bias) {
        this.manager = manager;
        this.weight = weight;
        this.bias = bias;
    }

    public static LinearClassifier create(int inDim, int classes, double std, long seed, NDManager parent) {
        Random rng = new Random(seed);
        float[] w = new float[Math.multiplyExact(inDim, classes)];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rng.nextGaussian() * std);
        }
        NDManager m = parent.newSubManager();
        NDArray weight = m.create(w, new Shape(classes, inDim));
        NDArray bias = m.zeros(new Shape(classes), DataType.FLOAT32);
        weight.setRequiresGradient(true);
        bias.setRequiresGradient(true);
        return new LinearClassifier(m, weight, bias);
    }

    /** A classifier with the given weight (C, D) row-major and bias (C), e.g. restored or from a reference. */
    public static LinearClassifier of(float[] weight, float[] bias, NDManager parent) {
        int classes = bias.length;
        if (classes == 0 || weight.length % classes != 0) {
            throw new IllegalArgumentException(weight.length + " weights do not fit " + classes + " classes");
        }
        NDManager m = parent.newSubManager();
        NDArray w = m.create(weight, new Shape(classes, weight.length / classes));
        NDArray b = m.create(bias, new Shape(classes));
        w.setRequiresGradient(true);
        b.setRequiresGradient(true);
        return new LinearClassifier(m, w, b);
    }

    /** Logits (N, C) for features (N, D); attached to {@code x}'s manager. */
    public NDArray logits(NDArray x) {
        NDArray xw = x.matMul(weight.transpose());
        NDArray out = xw.add(bias);
        xw.close();
        return out;
    }

    /** {@code fc.weight} and {@code fc.bias}, the live parameters (for the optimizer). */
    public Map<String, NDArray> parameters() {
        Map<String, NDArray> p = new LinkedHashMap<>();
        p.put(WEIGHT, weight);
        p.put(BIAS, bias);
        return p;
    }

    public NDArray weight() {
        return weight;
    }

    public NDArray bias() {
        return bias;
    }

    /** Writes {@code fc.weight.npy}, {@code fc.bias.npy} and {@code meta.json} as a zip ({@code numpy.load} reads it as an .npz). */
    public void save(java.nio.file.Path file, String metaJson) throws IOException {
        TensorArchive.write(file, metaJson, parameters());
    }

    @Override
    public void close() {
        manager.close();
    }
}
