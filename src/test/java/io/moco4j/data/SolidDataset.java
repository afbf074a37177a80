package io.moco4j.data;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test data set whose image {@code i} is a solid square of grey value {@code i % 256}, so a view reveals which
 * image it came from. Chosen indices can be made unreadable or made to throw a programming error.
 */
final class SolidDataset implements ImageDataset {
    final int count;
    final int size;
    final Set<Integer> unreadable;
    final Set<Integer> crashing;
    final AtomicInteger loads = new AtomicInteger();

    SolidDataset(int count, int size) {
        this(count, size, Set.of(), Set.of());
    }

    SolidDataset(int count, int size, Set<Integer> unreadable, Set<Integer> crashing) {
        this.count = count;
        this.size = size;
        this.unreadable = unreadable;
        this.crashing = crashing;
    }

    @Override public int size() { return count; }

    @Override public RgbImage load(int index) throws IOException {
        loads.incrementAndGet();
        if (unreadable.contains(index)) {
            throw new UnreadableImageException("solid/" + index, "test: unreadable");
        }
        if (crashing.contains(index)) {
            throw new IllegalStateException("test: crash at " + index);
        }
        byte[] p = new byte[size * size * 3];
        Arrays.fill(p, (byte) (index % 256));
        return new RgbImage(size, size, p);
    }

    @Override public int label(int index) { return index % 3; }

    @Override public List<String> classes() { return List.of("a", "b", "c"); }

    @Override public String describe(int index) { return "solid/" + index; }
}
