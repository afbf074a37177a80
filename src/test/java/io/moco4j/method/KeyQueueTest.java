package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class KeyQueueTest {

    @Test
    void initialKeysAreUnitRowsAndDependOnlyOnTheSeed() {
        try (NDManager m = NDManager.newBaseManager();
             KeyQueue a = KeyQueue.random(m, 64, 16, 7);
             KeyQueue b = KeyQueue.random(m, 64, 16, 7);
             KeyQueue c = KeyQueue.random(m, 64, 16, 8)) {
            float[] norms = a.keys().pow(2).sum(new int[] {1}).sqrt().toFloatArray();
            for (float n : norms) {
                assertEquals(1f, n, 1e-5f);
            }
            assertArrayEquals(a.keys().toFloatArray(), b.keys().toFloatArray());
            assertEquals(false, a.keys().contentEquals(c.keys()));
            // Roughly zero-mean, as normalised Gaussians are.
            assertEquals(0f, a.keys().mean().getFloat(), 0.05f);
        }
    }

    @Test
    void enqueueOverwritesTheOldestRowsAndWraps() {
        try (NDManager m = NDManager.newBaseManager(); KeyQueue q = KeyQueue.random(m, 6, 2, 1)) {
            float[] before = q.keys().toFloatArray();
            q.enqueue(m.create(new float[] {1, 1, 2, 2}, new Shape(2, 2)));
            assertEquals(2, q.pointer());
            q.enqueue(m.create(new float[] {3, 3, 4, 4}, new Shape(2, 2)));
            assertEquals(4, q.pointer());
            float[] mid = q.keys().toFloatArray();
            assertArrayEquals(new float[] {1, 1, 2, 2, 3, 3, 4, 4}, java.util.Arrays.copyOf(mid, 8));
            assertArrayEquals(java.util.Arrays.copyOfRange(before, 8, 12), java.util.Arrays.copyOfRange(mid, 8, 12),
                    "rows not yet reached keep their initial keys");
            q.enqueue(m.create(new float[] {5, 5, 6, 6}, new Shape(2, 2)));
            assertEquals(0, q.pointer(), "pointer wraps to the start");
            q.enqueue(m.create(new float[] {7, 7, 8, 8}, new Shape(2, 2)));
            assertArrayEquals(new float[] {7, 7, 8, 8, 3, 3, 4, 4, 5, 5, 6, 6}, q.keys().toFloatArray());
            assertEquals(2, q.pointer());
        }
    }

    @Test
    void rejectsBatchesThatDoNotDivideTheQueue() {
        try (NDManager m = NDManager.newBaseManager(); KeyQueue q = KeyQueue.random(m, 6, 2, 1)) {
            assertThrows(IllegalArgumentException.class, () -> q.enqueue(m.zeros(new Shape(4, 2))));
        }
    }

    @Test
    void restoreContinuesFromTheSavedPointer() {
        try (NDManager m = NDManager.newBaseManager(); KeyQueue q = KeyQueue.random(m, 4, 2, 3)) {
            q.enqueue(m.ones(new Shape(2, 2)));
            try (KeyQueue r = KeyQueue.restore(m, q.keys(), q.pointer())) {
                r.enqueue(m.full(new Shape(2, 2), 9f));
                NDArray tail = r.keys().get(new NDIndex("2:4"));
                assertArrayEquals(new float[] {9, 9, 9, 9}, tail.toFloatArray());
                assertArrayEquals(new float[] {1, 1, 1, 1}, q.keys().get(new NDIndex("0:2")).toFloatArray());
                assertEquals(false, q.keys().get(new NDIndex("2:4")).contentEquals(tail), "restored copy is independent");
            }
        }
    }
}
