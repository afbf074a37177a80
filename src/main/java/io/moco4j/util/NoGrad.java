package io.moco4j.util;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Switches libtorch's autograd recording off for the current thread until closed (like {@code torch.no_grad()}).
 *
 * <p>Needed for in-place updates of parameters that require gradients (copies, the momentum update,
 * optimizer steps): libtorch refuses in-place ops on such leaves while grad mode is on, and grad mode is
 * per thread and on by default on threads other than the one that loaded the engine. No-op on other engines.
 */
public final class NoGrad implements AutoCloseable {
    private static final boolean PYTORCH = "PyTorch".equals(Engine.getInstance().getEngineName());
    private final boolean restore;

    private NoGrad() {
        restore = PYTORCH && JniUtils.isGradMode();
        if (restore) {
            JniUtils.setGradMode(false);
        }
    }

    public static NoGrad enter() {
        return new NoGrad();
    }

    @Override
    public void close() {
        if (restore) {
            JniUtils.setGradMode(true);
        }
    }
}
