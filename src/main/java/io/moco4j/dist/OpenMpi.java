package io.moco4j.dist;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.ByteBuffer;

/**
 * Collectives across the ranks of an Open MPI job ({@code mpirun -np N java ...}), through libmpi's C API.
 *
 * <p>MPI is initialised once per process ({@code MPI_Init_thread}, SERIALIZED) by {@link #start()}, and every
 * MPI call must come from the thread that started it: calls from any other thread throw, so a stray call from a
 * loader or evaluation thread fails loudly instead of corrupting MPI state.
 *
 * <p>MPI counts are C ints: buffers longer than {@code maxCount} elements (2^31 - 1 unless a test lowers it)
 * are processed in several calls.
 *
 * <p>A rank that dies makes {@code mpirun} end the whole job. A rank that hangs (or runs a different sequence
 * of collectives) would block the others forever inside MPI, so a watchdog ends this process with one line
 * when a single collective has waited longer than {@link #TIMEOUT_PROPERTY} seconds (default 1800, as NCCL's
 * default timeout); {@code mpirun} then stops the other ranks.
 */
public final class OpenMpi extends BufferCollectives {
    /** System property (or environment variable {@code MOCO4J_COLLECTIVE_TIMEOUT}) with the watchdog limit in s. */
    public static final String TIMEOUT_PROPERTY = "moco4j.collective_timeout";
    /** Exit status of a process ended by the watchdog. */
    public static final int WATCHDOG_EXIT = 70;

    private final MpiLibrary mpi;
    private final MpiLibrary.Handles h;
    private final Thread owner;
    private final int rank;
    private final int size;
    private final int localRank;
    private final int localSize;
    private final long maxCount;
    private final Thread watchdog;
    private volatile String pendingOp;
    private volatile long pendingSince;
    private volatile boolean closed;
    private long collectiveNanos;
    private long collectiveCalls;

    private OpenMpi(MpiLibrary.Loaded lib, long maxCount, double timeoutSeconds) {
        this.mpi = lib.api();
        this.h = lib.handles();
        this.owner = Thread.currentThread();
        this.maxCount = maxCount;
        IntByReference provided = new IntByReference();
        check(mpi.MPI_Init_thread(null, null, MpiLibrary.MPI_THREAD_SERIALIZED, provided), "MPI_Init_thread");
        this.rank = query(true, h.commWorld());
        this.size = query(false, h.commWorld());
        PointerByReference node = new PointerByReference();
        check(mpi.MPI_Comm_split_type(h.commWorld(), MpiLibrary.MPI_COMM_TYPE_SHARED, rank, h.infoNull(), node),
                "MPI_Comm_split_type");
        this.localRank = query(true, node.getValue());
        this.localSize = query(false, node.getValue());
        check(mpi.MPI_Comm_free(node), "MPI_Comm_free");
        this.watchdog = new Thread(() -> watch(timeoutSeconds), "moco4j-collective-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    /** Joins the MPI job this process was started in; call once per process, from the training thread. */
    public static OpenMpi start() {
        return start(Integer.MAX_VALUE);
    }

    /** As {@link #start()} with a lower per-call element limit (tests use it to exercise the splitting). */
    public static OpenMpi start(long maxCount) {
        MpiLibrary.Loaded lib = MpiLibrary.load();
        IntByReference flag = new IntByReference();
        lib.api().MPI_Initialized(flag);
        if (flag.getValue() != 0) {
            throw new IllegalStateException("MPI is already initialised in this process; start OpenMpi once");
        }
        return new OpenMpi(lib, maxCount, timeoutSeconds());
    }

    /** Whether this process was started by {@code mpirun} (Open MPI's or a PMIx launcher's environment). */
    public static boolean launchedByMpirun() {
        return System.getenv("OMPI_COMM_WORLD_SIZE") != null || System.getenv("PMIX_RANK") != null;
    }

    static double timeoutSeconds() {
        String v = System.getProperty(TIMEOUT_PROPERTY, System.getenv("MOCO4J_COLLECTIVE_TIMEOUT"));
        return v == null || v.isBlank() ? 1800 : Double.parseDouble(v);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public int localRank() {
        return localRank;
    }

    @Override
    public int localSize() {
        return localSize;
    }

    @Override
    public String describe() {
        return super.describe() + ", Open MPI";
    }

    @Override
    protected void allReduceSum(ByteBuffer buf, long count, Element type) {
        Pointer base = Native.getDirectBufferPointer(buf);
        Pointer dtype = datatype(type);
        enter("all-reduce");
        try {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                check(mpi.MPI_Allreduce(MpiLibrary.MPI_IN_PLACE, base.share(off * type.bytes), n, dtype, h.opSum(),
                        h.commWorld()), "MPI_Allreduce");
            }
        } finally {
            leave();
        }
    }

    @Override
    protected void allGather(ByteBuffer send, ByteBuffer recv, long count, Element type) {
        Pointer src = Native.getDirectBufferPointer(send);
        Pointer dst = Native.getDirectBufferPointer(recv);
        Pointer dtype = datatype(type);
        enter("all-gather");
        try {
            if (count <= maxCount) {
                check(mpi.MPI_Allgather(src, (int) count, dtype, dst, (int) count, dtype, h.commWorld()),
                        "MPI_Allgather");
                return;
            }
            // in pieces: each piece gathers [off, off + n) of every rank, then moves to its place in recv
            int piece = (int) maxCount;
            ByteBuffer tmp = direct((long) piece * size * type.bytes);
            Pointer t = Native.getDirectBufferPointer(tmp);
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                check(mpi.MPI_Allgather(src.share(off * type.bytes), n, dtype, t, n, dtype, h.commWorld()),
                        "MPI_Allgather");
                for (int r = 0; r < size; r++) {
                    byte[] part = t.getByteArray((long) r * n * type.bytes, n * type.bytes);
                    dst.write((r * count + off) * type.bytes, part, 0, part.length);
                }
            }
        } finally {
            leave();
        }
    }

    @Override
    protected void broadcast(ByteBuffer buf, long count, Element type, int root) {
        Pointer base = Native.getDirectBufferPointer(buf);
        Pointer dtype = datatype(type);
        enter("broadcast");
        try {
            for (long off = 0; off < count; off += maxCount) {
                int n = (int) Math.min(maxCount, count - off);
                check(mpi.MPI_Bcast(base.share(off * type.bytes), n, dtype, root, h.commWorld()), "MPI_Bcast");
            }
        } finally {
            leave();
        }
    }

    @Override
    public void barrier() {
        enter("barrier");
        try {
            check(mpi.MPI_Barrier(h.commWorld()), "MPI_Barrier");
        } finally {
            leave();
        }
    }

    /**
     * Ends the whole job: prints one line naming this rank and the cause, then {@code MPI_Abort}, which makes
     * mpirun stop every rank. For a failure on one rank that the others cannot know about (an exception).
     */
    public void abort(int code, String message) {
        System.err.println("rank " + rank + " of " + size + " failed: " + message + "; stopping the job");
        System.err.flush();
        mpi.MPI_Abort(h.commWorld(), code);
        Runtime.getRuntime().halt(code); // not reached: MPI_Abort does not return
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        checkThread("MPI_Finalize");
        closed = true;
        watchdog.interrupt();
        IntByReference flag = new IntByReference();
        mpi.MPI_Finalized(flag);
        if (flag.getValue() == 0) {
            check(mpi.MPI_Finalize(), "MPI_Finalize");
        }
    }

    private Pointer datatype(Element type) {
        switch (type) {
            case BYTE: return h.typeByte();
            case INT: return h.typeInt();
            case LONG: return h.typeLong();
            case FLOAT: return h.typeFloat();
            case DOUBLE: return h.typeDouble();
            default: throw new IllegalArgumentException(type.toString());
        }
    }

    private int query(boolean wantRank, Pointer comm) {
        IntByReference v = new IntByReference();
        check(wantRank ? mpi.MPI_Comm_rank(comm, v) : mpi.MPI_Comm_size(comm, v), wantRank ? "MPI_Comm_rank" : "MPI_Comm_size");
        return v.getValue();
    }

    private void enter(String op) {
        checkThread(op);
        if (closed) {
            throw new IllegalStateException(op + " after MPI_Finalize");
        }
        pendingSince = System.nanoTime();
        pendingOp = op;
    }

    private void leave() {
        collectiveNanos += System.nanoTime() - pendingSince;
        collectiveCalls++;
        pendingOp = null;
    }

    /** Seconds spent inside collectives so far: transfer plus waiting for slower ranks. */
    public double collectiveSeconds() {
        return collectiveNanos / 1e9;
    }

    /** Collective calls so far. */
    public long collectiveCalls() {
        return collectiveCalls;
    }

    private void checkThread(String op) {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException(op + " called on thread " + Thread.currentThread().getName()
                    + "; every MPI call must run on the thread that started MPI (" + owner.getName() + ")");
        }
    }

    private void check(int code, String call) {
        if (code != MpiLibrary.MPI_SUCCESS) {
            throw new IllegalStateException(call + " failed with MPI error " + code + " on rank " + rank);
        }
    }

    private void watch(double timeoutSeconds) {
        long limit = (long) (timeoutSeconds * 1e9);
        try {
            while (!closed) {
                Thread.sleep(Math.max(10, Math.min(1000, limit / 4_000_000)));
                String op = pendingOp;
                long waited = System.nanoTime() - pendingSince;
                if (op != null && waited > limit) {
                    System.err.printf("rank %d of %d: %s waited %.0f s for the other ranks (one of them died, hangs "
                            + "or runs different collectives); ending the job (limit: -D%s or "
                            + "MOCO4J_COLLECTIVE_TIMEOUT)%n", rank, size, op, waited / 1e9, TIMEOUT_PROPERTY);
                    System.err.flush();
                    Runtime.getRuntime().halt(WATCHDOG_EXIT); // MPI_Abort from this thread would break SERIALIZED
                }
            }
        } catch (InterruptedException e) {
            // closed
        }
    }
}
