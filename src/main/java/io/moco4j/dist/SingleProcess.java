package io.moco4j.dist;

import java.nio.ByteBuffer;

/**
 * One rank: every collective is the identity (all-gather returns the local data). The default, so
 * single-process training runs the same code path with no communication.
 */
public final class SingleProcess extends BufferCollectives {
    public static final SingleProcess INSTANCE = new SingleProcess();

    private SingleProcess() {}

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public int localRank() {
        return 0;
    }

    @Override
    public int localSize() {
        return 1;
    }

    @Override
    protected void allReduceSum(ByteBuffer buf, long count, Element type) {}

    @Override
    protected void allGather(ByteBuffer send, ByteBuffer recv, long count, Element type) {
        ByteBuffer src = send.duplicate();
        src.position(0).limit(Math.toIntExact(count * type.bytes));
        recv.duplicate().position(0).put(src);
    }

    @Override
    protected void broadcast(ByteBuffer buf, long count, Element type, int root) {
        if (root != 0) {
            throw new IllegalArgumentException("root " + root + " does not exist in a one-rank job");
        }
    }

    @Override
    public void barrier() {}

    @Override
    public String describe() {
        return "single process";
    }

    @Override
    public void close() {}
}
