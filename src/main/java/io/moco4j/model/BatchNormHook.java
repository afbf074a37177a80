package io.moco4j.model;

import ai.djl.ndarray.NDArray;

/**
 * A replacement for the training-mode normalisation of every {@link BatchNorm2d} and {@link BatchNorm1d}, installed
 * for the duration of a forward pass ({@link #install}); data-parallel MoCo v3 installs SyncBN
 * ({@code io.moco4j.dist.SyncBatchNorm}), whose statistics are those of the global batch over all ranks.
 *
 * <p>Why a scope and not a field of each layer: the BatchNorm layers are views built deep inside each network
 * (ResNet, its blocks, the MLPs) before anyone knows the run is distributed, and the same network is run with
 * different normalisations (the query side records its SyncBN layers for the backward pass, the momentum side
 * only normalises). Installing the hook around a forward reaches every layer without threading a parameter
 * through every network. With no hook installed (the default, and always with one process) the layers call
 * libtorch's batch_norm exactly as before.
 *
 * <p>The hook is per thread, as libtorch's grad mode is.
 */
public interface BatchNormHook {

    /**
     * Training-mode BatchNorm of {@code x} (N, C, ...) with affine {@code gamma}/{@code beta} (both null when the
     * layer is not affine): returns the normalised output (in {@code x}'s manager) and updates
     * {@code runningMean}/{@code runningVar} in place (momentum 0.1, unbiased variance), as
     * {@code torch.nn.functional.batch_norm(training=True)} would. The caller counts {@code num_batches_tracked}.
     */
    NDArray normalize(NDArray x, NDArray gamma, NDArray beta, NDArray runningMean, NDArray runningVar);

    /** The hook installed on this thread, or null (plain BatchNorm). */
    static BatchNormHook current() {
        return Installed.CURRENT.get();
    }

    /** Installs {@code hook} on this thread until the returned scope is closed (then the previous one is back). */
    static Scope install(BatchNormHook hook) {
        BatchNormHook previous = Installed.CURRENT.get();
        Installed.CURRENT.set(hook);
        return () -> {
            if (previous == null) {
                Installed.CURRENT.remove();
            } else {
                Installed.CURRENT.set(previous);
            }
        };
    }

    /** Ends an {@link #install}. */
    interface Scope extends AutoCloseable {
        /** A scope that installs nothing (plain BatchNorm). */
        Scope NONE = () -> {};

        @Override
        void close();
    }

    /** Holder of the thread-local (interfaces cannot have private static fields). */
    final class Installed {
        private static final ThreadLocal<BatchNormHook> CURRENT = new ThreadLocal<>();

        private Installed() {}
    }
}
