package io.moco4j.dist;

import ai.djl.ndarray.NDArray;

/**
 * The collective operations data-parallel MoCo needs: all-reduce (gradients), all-gather (keys for the
 * queue, the Shuffle BN batch), broadcast (initial state, the shuffle permutation) and a barrier.
 * {@link SingleProcess} is the identity (one rank, the default: single-process training is unchanged);
 * {@link OpenMpi} runs them across the ranks of an {@code mpirun} job.
 *
 * <p>Every rank calls the same collectives in the same order with the same sizes, as MPI requires; a
 * mismatch hangs or aborts the job. Implementations may require all calls on one thread ({@link OpenMpi}
 * does, and checks it).
 *
 * <p>NDArray operations work on any device: the NDArray methods are the seam where a device-native
 * library (NCCL for GPUs) can replace host staging without touching the callers (see {@link BufferCollectives}).
 */
public interface Collectives extends AutoCloseable {

    /** This process's rank, 0..size-1. */
    int rank();

    /** Number of ranks in the job. */
    int size();

    /** Rank among the ranks on this machine (the one that picks the GPU and the core share). */
    int localRank();

    /** Number of ranks on this machine. */
    int localSize();

    /** Rank 0 writes metrics, reports and checkpoints; the others only compute. */
    default boolean isRoot() {
        return rank() == 0;
    }

    /** Element-wise sum over ranks, in place. */
    void allReduceSum(float[] values);

    /** Element-wise mean over ranks, in place. */
    default void allReduceMean(float[] values) {
        allReduceSum(values);
        if (size() > 1) {
            for (int i = 0; i < values.length; i++) {
                values[i] /= size();
            }
        }
    }

    /** Element-wise sum over ranks, in place; {@code array} keeps its identity, device and dtype. */
    void allReduceSum(NDArray array);

    /** Element-wise mean over ranks, in place (floating-point arrays). */
    default void allReduceMean(NDArray array) {
        allReduceSum(array);
        if (size() > 1) {
            array.divi(size());
        }
    }

    /** Every rank's {@code local} concatenated in rank order (all ranks pass the same length). */
    float[] allGather(float[] local);

    /** Every rank's {@code local} concatenated in rank order (all ranks pass the same length). */
    long[] allGather(long[] local);

    /**
     * Every rank's {@code local} (same shape and dtype on all ranks) concatenated along axis 0 in rank order,
     * as a new array in {@code local}'s manager on {@code local}'s device.
     */
    NDArray allGather(NDArray local);

    /** Overwrites {@code values} on every rank with {@code root}'s. */
    void broadcast(float[] values, int root);

    /** Overwrites {@code values} on every rank with {@code root}'s. */
    void broadcast(long[] values, int root);

    /** Overwrites {@code array} in place on every rank with {@code root}'s (same shape and dtype everywhere). */
    void broadcast(NDArray array, int root);

    /** Returns once every rank has entered it. */
    void barrier();

    /** Human-readable summary, printed at start ("rank 0 of 2, local 0 of 2, Open MPI"). */
    default String describe() {
        return "rank " + rank() + " of " + size() + " (local " + localRank() + " of " + localSize() + ")";
    }

    /** Leaves the job (MPI_Finalize); collectives fail afterwards. */
    @Override
    void close();
}
