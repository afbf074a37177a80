package io.moco4j.testutil;

import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Lets the JDK free the native memory of direct buffers nobody references any more, then takes small blocks of
 * native memory back and fills them with NaN, keeping them until closed. A tensor that still reads memory which a
 * freed direct buffer owned (DJL's CPU arrays made from Java data borrow it: {@code torch::from_blob}) then reads
 * NaN, which is what a GC between a forward and its backward can do to a long-lived process.
 *
 * <p>Small blocks only (the 4- or 8-byte scalars DJL makes for {@code x.mul(2f)} land in the allocator's
 * smallest size class), and many of them, so the freed ones among them are taken back whatever their order.
 */
public final class FreedNativeMemory implements AutoCloseable {
    private static final int BLOCKS = 100_000;
    private static final int BYTES = 8;
    private final List<ByteBuffer> held = new ArrayList<>(BLOCKS);

    private FreedNativeMemory() {
        for (int i = 0; i < BLOCKS; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(BYTES).order(ByteOrder.nativeOrder());
            while (b.remaining() >= Float.BYTES) {
                b.putFloat(Float.NaN);
            }
            held.add(b);
        }
    }

    /** Collects garbage (the JDK frees unreachable direct buffers' memory), then refills freed blocks with NaN. */
    public static FreedNativeMemory poisonFreedBlocks() {
        collectGarbage();
        return new FreedNativeMemory();
    }

    /** Two full collections, each waited for until reference processing has run (direct buffers are freed there). */
    static void collectGarbage() {
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        for (int round = 0; round < 2; round++) {
            PhantomReference<Object> probe = new PhantomReference<>(new Object(), queue);
            System.gc();
            try {
                if (queue.remove(5_000) == null) {
                    throw new IllegalStateException("no garbage collection within 5 s (is -XX:+DisableExplicitGC set?)");
                }
                Thread.sleep(20); // the reference handler frees the buffers queued beside the probe
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            probe.clear();
        }
    }

    @Override
    public void close() {
        held.clear();
    }
}
