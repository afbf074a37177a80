package io.moco4j.dist;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * libtorch's intra-op threads for one rank: the cores this process may use divided by the ranks on the machine.
 *
 * <p>Needed because under mpirun libtorch's own default is wrong in both directions: Open MPI binds each of N
 * local ranks to one core by default (so the process sees one core; {@link MpiLauncher} passes
 * {@code --bind-to none}), and MKL inside libtorch reads {@code OMPI_COMM_WORLD_LOCAL_SIZE} and divides its
 * threads by it on its own. An explicit {@code -Dai.djl.pytorch.num_threads} wins over the share.
 */
public record CoreShare(int cores, int localRanks, int threads, boolean explicit) {

    /** The share of {@code cores} for one of {@code localRanks} ranks (at least one thread). */
    public static CoreShare of(int cores, int localRanks) {
        return new CoreShare(cores, localRanks, Math.max(1, cores / Math.max(1, localRanks)), false);
    }

    /** This rank's share, honouring an explicit {@code ai.djl.pytorch.num_threads}. */
    public static CoreShare forRank(Collectives collectives) {
        int cores = Runtime.getRuntime().availableProcessors(); // respects affinity masks and cgroup limits
        Integer set = Integer.getInteger("ai.djl.pytorch.num_threads");
        if (set != null) {
            return new CoreShare(cores, collectives.localSize(), set, true);
        }
        return of(cores, collectives.localSize());
    }

    /** Sets libtorch's intra-op thread count to {@link #threads()} (loads the engine if needed). */
    public CoreShare apply() {
        Engine.getEngine("PyTorch");
        JniUtils.setNumThreads(threads);
        return this;
    }

    /** What libtorch uses now (for the start-up line and the tests). */
    public static int libtorchThreads() {
        Engine.getEngine("PyTorch");
        return JniUtils.getNumThreads();
    }

    /** One line for the start of a run; warns when mpirun bound the ranks to fewer cores than there are ranks. */
    public String describe(Collectives collectives) {
        String base = collectives.describe() + ": " + threads + " intra-op thread(s)"
                + (explicit ? " (set by ai.djl.pytorch.num_threads)" : " (" + cores + " core(s) / " + localRanks
                + " local rank(s))");
        if (!explicit && localRanks > 1 && cores < localRanks) {
            base += "; this rank sees only " + cores + " core(s): mpirun bound it, start with --bind-to none";
        }
        return base;
    }
}
