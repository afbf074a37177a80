package io.moco4j.eval;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Disables autograd recording on the current thread (like {@code torch.no_grad()}) and restores the
 * previous mode on close. libtorch's grad mode is thread-local and on by default in new threads, so
 * without this a forward pass through parameters that require gradients would build a graph.
 */
public final class NoGrad implements AutoCloseable {
    private final boolean pytorch;
    private final boolean previous;

    private NoGrad() {
        pytorch = "PyTorch".equals(Engine.getInstance().getEngineName());
        previous = pytorch && JniUtils.isGradMode();
        if (pytorch) {
            JniUtils.setGradMode(false);
        }
    }

    public static NoGrad enter() {
        return new NoGrad();
    }

    @Override
    public void close() {
        if (pytorch) {
            JniUtils.setGradMode(previous);
        }
    }
}
