package io.moco4j.dist;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Rank 0 of a 2-rank job whose other rank holds exactly the same data, emulated in one thread: sums double, gathers
 * repeat the local data, broadcasts keep it. A data-parallel step on batch X through these collectives must then
 * equal the single-process step on [X; X] (for code whose ranks only meet in collectives).
 */
final class MirroredRanks extends BufferCollectives {
    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 2;
    }

    @Override
    public int localRank() {
        return 0;
    }

    @Override
    public int localSize() {
        return 2;
    }

    @Override
    protected void allReduceSum(ByteBuffer buf, long count, Element type) {
        ByteBuffer b = buf.duplicate().order(ByteOrder.nativeOrder());
        for (int i = 0; i < count; i++) {
            switch (type) {
                case FLOAT -> b.putFloat(4 * i, b.getFloat(4 * i) + b.getFloat(4 * i));
                case DOUBLE -> b.putDouble(8 * i, b.getDouble(8 * i) + b.getDouble(8 * i));
                case LONG -> b.putLong(8 * i, 2 * b.getLong(8 * i));
                case INT -> b.putInt(4 * i, 2 * b.getInt(4 * i));
                default -> throw new UnsupportedOperationException("mirrored sum of " + type);
            }
        }
    }

    @Override
    protected void allGather(ByteBuffer send, ByteBuffer recv, long count, Element type) {
        int bytes = Math.toIntExact(count * type.bytes);
        ByteBuffer out = recv.duplicate();
        out.position(0);
        for (int r = 0; r < 2; r++) {
            ByteBuffer src = send.duplicate();
            src.position(0).limit(bytes);
            out.put(src);
        }
    }

    @Override
    protected void broadcast(ByteBuffer buf, long count, Element type, int root) {}

    @Override
    public void barrier() {}

    @Override
    public void close() {}
}
