package io.moco4j.dist;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Ranks emulated by threads of one process, for unit tests of code that runs collectives: {@link #create}
 * returns one {@link Collectives} per rank; each rank's thread calls them as an MPI rank would. Sums run in
 * rank order (as Open MPI's on two ranks), so results are identical on every rank.
 */
final class ThreadRanks extends BufferCollectives {
    private final Shared shared;
    private final int rank;

    private static final class Shared {
        final int size;
        final CyclicBarrier barrier;
        final byte[][] slots;

        Shared(int size) {
            this.size = size;
            this.barrier = new CyclicBarrier(size);
            this.slots = new byte[size][];
        }

        void await() {
            try {
                barrier.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
                throw new IllegalStateException("a thread rank did not reach the collective", e);
            }
        }
    }

    private ThreadRanks(Shared shared, int rank) {
        this.shared = shared;
        this.rank = rank;
    }

    static ThreadRanks[] create(int size) {
        Shared s = new Shared(size);
        ThreadRanks[] ranks = new ThreadRanks[size];
        for (int r = 0; r < size; r++) {
            ranks[r] = new ThreadRanks(s, r);
        }
        return ranks;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return shared.size;
    }

    @Override
    public int localRank() {
        return rank;
    }

    @Override
    public int localSize() {
        return shared.size;
    }

    private byte[] publish(ByteBuffer buf, long count, Element type) {
        byte[] mine = new byte[Math.toIntExact(count * type.bytes)];
        buf.duplicate().position(0).get(mine);
        shared.slots[rank] = mine;
        shared.await();
        return mine;
    }

    @Override
    protected void allReduceSum(ByteBuffer buf, long count, Element type) {
        publish(buf, count, type);
        ByteBuffer out = buf.duplicate().order(ByteOrder.nativeOrder());
        for (int i = 0; i < count; i++) {
            if (type == Element.FLOAT) {
                float s = 0;
                for (int r = 0; r < shared.size; r++) {
                    s += ByteBuffer.wrap(shared.slots[r]).order(ByteOrder.nativeOrder()).getFloat(4 * i);
                }
                out.putFloat(4 * i, s);
            } else if (type == Element.DOUBLE) {
                double s = 0;
                for (int r = 0; r < shared.size; r++) {
                    s += ByteBuffer.wrap(shared.slots[r]).order(ByteOrder.nativeOrder()).getDouble(8 * i);
                }
                out.putDouble(8 * i, s);
            } else {
                throw new UnsupportedOperationException("thread ranks sum floats and doubles only");
            }
        }
        shared.await(); // nobody overwrites a slot before everyone has read
    }

    @Override
    protected void allGather(ByteBuffer send, ByteBuffer recv, long count, Element type) {
        publish(send, count, type);
        ByteBuffer out = recv.duplicate();
        out.position(0);
        for (int r = 0; r < shared.size; r++) {
            out.put(shared.slots[r]);
        }
        shared.await();
    }

    @Override
    protected void broadcast(ByteBuffer buf, long count, Element type, int root) {
        publish(buf, count, type);
        buf.duplicate().position(0).put(shared.slots[root]);
        shared.await();
    }

    @Override
    public void barrier() {
        shared.await();
    }

    @Override
    public void close() {}
}
