package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import io.moco4j.data.GeneratedScenes;
import io.moco4j.data.SampleSeeds;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ShardedOrderTest {

    @Test
    void ranksCoverEachGlobalBatchDisjointlyWithEqualSteps() {
        // 103 images, global batch 12 over 3 ranks: 8 steps of 4 images per rank, 7 images dropped
        ShardedOrder order = ShardedOrder.of(103, 12, 3, 42);
        assertEquals(4, order.perRankBatch());
        assertEquals(8, order.stepsPerEpoch());
        for (int epoch = 0; epoch < 2; epoch++) {
            int[] perm = SampleSeeds.permutation(103, 42, epoch);
            Set<Integer> seen = new HashSet<>();
            for (int step = 0; step < 8; step++) {
                Set<Integer> global = new HashSet<>();
                for (int rank = 0; rank < 3; rank++) {
                    for (int i : order.batch(epoch, step, rank)) {
                        assertTrue(seen.add(i), "image " + i + " seen twice in epoch " + epoch);
                        global.add(i);
                    }
                }
                // the union is the global batch one process takes with batch 12
                Set<Integer> single = new HashSet<>();
                for (int j = step * 12; j < step * 12 + 12; j++) {
                    single.add(perm[j]);
                }
                assertEquals(single, global, "step " + step);
            }
            assertEquals(96, seen.size());
        }
        assertFalse(java.util.Arrays.equals(order.batch(0, 0, 0), order.batch(1, 0, 0)), "a new order each epoch");
    }

    @Test
    void globalBatchMustDivideByRanks() {
        UserException e = assertThrows(UserException.class, () -> ShardedOrder.of(100, 10, 3, 0));
        assertTrue(e.getMessage().contains("multiple of 3"), e.getMessage());
        assertThrows(UserException.class, () -> ShardedOrder.of(10, 16, 2, 0));
    }

    /** A "view" of random values drawn from the sample's own stream (seed, epoch, index, view). */
    private static ViewTransform randomValues(int size) {
        return new ViewTransform() {
            @Override public int height() { return size; }
            @Override public int width() { return size; }
            @Override public void apply(io.moco4j.data.RgbImage image, java.util.random.RandomGenerator rng,
                                        float[] out, int offset) {
                for (int i = 0; i < 3 * size * size; i++) {
                    out[offset + i] = rng.nextFloat();
                }
            }
        };
    }

    @Test
    void shardedLoadersDeliverTheSingleProcessBatchesSplitByRank() {
        GeneratedScenes ds = GeneratedScenes.train(30, 5, 8);
        List<ViewTransform> views = List.of(randomValues(4));
        ShardedOrder order = ShardedOrder.of(ds.size(), 8, 2, 9);
        List<int[]> single = new ArrayList<>();
        List<float[]> singleViews = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager();
             ViewLoader l = ViewLoader.builder(ds, views).batchSize(8).seed(9).workers(1).build();
             ViewLoader.Epoch it = l.epoch(1, m)) {
            while (it.hasNext()) {
                try (ViewBatch b = it.next()) {
                    single.add(b.indices());
                    singleViews.add(b.view(0).toFloatArray());
                }
            }
        }
        assertEquals(3, single.size());
        for (int rank = 0; rank < 2; rank++) {
            try (NDManager m = NDManager.newBaseManager();
                 ViewLoader l = order.configure(ViewLoader.builder(ds, views), rank).workers(1).build();
                 ViewLoader.Epoch it = l.epoch(1, m)) {
                assertEquals(3, l.batchesPerEpoch());
                int step = 0;
                while (it.hasNext()) {
                    try (ViewBatch b = it.next()) {
                        assertArrayEquals(java.util.Arrays.copyOfRange(single.get(step), rank * 4, rank * 4 + 4),
                                b.indices(), "rank " + rank + " step " + step);
                        assertArrayEquals(order.batch(1, step, rank), b.indices());
                        float[] all = singleViews.get(step);
                        int per = all.length / 8;
                        assertArrayEquals(java.util.Arrays.copyOfRange(all, rank * 4 * per, (rank + 1) * 4 * per),
                                b.view(0).toFloatArray(), "same augmentation as in one process");
                        step++;
                    }
                }
                assertEquals(3, step);
            }
        }
    }
}
