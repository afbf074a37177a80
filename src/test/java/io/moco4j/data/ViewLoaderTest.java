package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ViewLoaderTest {

    /** All floats of all views of all batches of one epoch, plus the indices in delivery order. */
    private record EpochData(List<float[]> views, List<Integer> indices, List<Integer> labels) {}

    private static EpochData run(ViewLoader loader, int epoch) {
        List<float[]> views = new ArrayList<>();
        List<Integer> indices = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager()) {
            try (ViewLoader.Epoch it = loader.epoch(epoch, m)) {
                while (it.hasNext()) {
                    try (ViewBatch b = it.next()) {
                        for (int v = 0; v < b.views().size(); v++) {
                            views.add(b.view(v).toFloatArray());
                        }
                        Arrays.stream(b.indices()).forEach(indices::add);
                        Arrays.stream(b.labels()).forEach(labels::add);
                    }
                }
            }
        }
        return new EpochData(views, indices, labels);
    }

    @Test
    void outputIsIdenticalForOneAndTwoWorkers() {
        GeneratedScenes ds = GeneratedScenes.train(40, 7, 16);
        List<ViewTransform> views = List.of(TestTransforms.randomShift(16), TestTransforms.randomShift(16));
        for (int epoch = 0; epoch < 2; epoch++) {
            EpochData one;
            EpochData two;
            try (ViewLoader l = ViewLoader.builder(ds, views).batchSize(6).seed(3).workers(1).build()) {
                one = run(l, epoch);
            }
            try (ViewLoader l = ViewLoader.builder(ds, views).batchSize(6).seed(3).workers(2).prefetch(2).build()) {
                two = run(l, epoch);
            }
            assertEquals(one.indices(), two.indices());
            assertEquals(one.views().size(), two.views().size());
            for (int i = 0; i < one.views().size(); i++) {
                assertArrayEquals(one.views().get(i), two.views().get(i), "view tensor " + i + " epoch " + epoch);
            }
        }
    }

    @Test
    void viewsHoldTheImagesOfTheirIndicesWithIndependentRandomness() {
        SolidDataset ds = new SolidDataset(12, 4);
        try (ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.randomShift(4), TestTransforms.randomShift(4)))
                .batchSize(4).seed(1).workers(2).build();
             NDManager m = NDManager.newBaseManager()) {
            ViewLoader.Epoch it = l.epoch(0, m);
            ViewBatch b = it.next();
            assertEquals(List.of(4L, 3L, 4L, 4L), Arrays.stream(b.view(0).getShape().getShape()).boxed().toList());
            float[] v0 = b.view(0).toFloatArray();
            float[] v1 = b.view(1).toFloatArray();
            for (int s = 0; s < 4; s++) {
                float base = b.indices()[s] / 255f;
                float shift0 = v0[s * 48] - base;
                float shift1 = v1[s * 48] - base;
                assertTrue(shift0 >= 0 && shift0 < 1 && shift1 >= 0 && shift1 < 1, "shift in [0,1)");
                assertNotEquals(shift0, shift1, "the two views draw from different random streams");
                assertEquals(b.indices()[s] % 3, b.labels()[s]);
                for (int j = 0; j < 48; j++) {
                    assertEquals(base + shift0, v0[s * 48 + j], 1e-6);
                }
            }
            it.close();
        }
    }

    @Test
    void dropLastDropsOnlyThePartialBatch() {
        SolidDataset ds = new SolidDataset(10, 2);
        List<ViewTransform> views = List.of(TestTransforms.toTensor(2));
        try (ViewLoader train = ViewLoader.builder(ds, views).batchSize(4).workers(2).build();
             ViewLoader eval = ViewLoader.builder(ds, views).batchSize(4).workers(2).dropLast(false).shuffle(false).build()) {
            assertEquals(2, train.batchesPerEpoch());
            EpochData t = run(train, 0);
            assertEquals(8, t.indices().size());
            assertEquals(8, new HashSet<>(t.indices()).size(), "no image twice in an epoch");
            assertEquals(3, eval.batchesPerEpoch());
            EpochData e = run(eval, 0);
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), e.indices(), "no shuffle: data set order, nothing dropped");
            assertEquals(2, e.views().get(2).length / 12, "last batch holds the 2 remaining images");
        }
    }

    @Test
    void shuffleDiffersPerEpochAndIsReproducible() {
        SolidDataset ds = new SolidDataset(64, 2);
        List<ViewTransform> views = List.of(TestTransforms.toTensor(2));
        List<Integer> e0;
        List<Integer> e1;
        try (ViewLoader l = ViewLoader.builder(ds, views).batchSize(8).seed(5).workers(2).build()) {
            e0 = run(l, 0).indices();
            e1 = run(l, 1).indices();
            assertEquals(Arrays.stream(l.order(0)).boxed().toList(), e0);
        }
        assertNotEquals(e0, e1);
        assertEquals(Set.copyOf(e0), Set.copyOf(e1));
        assertNotEquals(java.util.stream.IntStream.range(0, 64).boxed().toList(), e0, "shuffled");
        try (ViewLoader again = ViewLoader.builder(ds, views).batchSize(8).seed(5).workers(1).build()) {
            assertEquals(e1, run(again, 1).indices(), "same seed and epoch, same order");
        }
        try (ViewLoader other = ViewLoader.builder(ds, views).batchSize(8).seed(6).workers(1).build()) {
            assertNotEquals(e0, run(other, 0).indices(), "another seed, another order");
        }
    }

    @Test
    void prefetchBoundsTheWorkAheadOfTheConsumer() throws InterruptedException {
        SolidDataset ds = new SolidDataset(2000, 2);
        try (ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(2)))
                .batchSize(10).workers(2).prefetch(2).build();
             NDManager m = NDManager.newBaseManager();
             ViewLoader.Epoch it = l.epoch(0, m)) {
            it.next().close();
            Thread.sleep(300); // give the workers every chance to run ahead
            // One batch consumed plus at most two in preparation.
            assertTrue(ds.loads.get() <= 30, "loaded " + ds.loads.get() + " images with 1 batch consumed");
        }
    }

    @Test
    void workerExceptionsReachTheConsumerAndThreadsStop() throws InterruptedException {
        SolidDataset ds = new SolidDataset(40, 2, Set.of(), Set.of(13));
        ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(2)))
                .batchSize(4).workers(2).shuffle(false).build();
        try (NDManager m = NDManager.newBaseManager()) {
            ViewLoader.Epoch it = l.epoch(0, m);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                while (it.hasNext()) {
                    it.next().close();
                }
            });
            assertEquals("test: crash at 13", e.getMessage());
            assertFalse(it.hasNext(), "a failed epoch ends");
        }
        l.close();
        for (int i = 0; i < 100 && loaderThreadsAlive(); i++) {
            Thread.sleep(50);
        }
        assertFalse(loaderThreadsAlive(), "loader threads stop after close()");
    }

    private static boolean loaderThreadsAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().startsWith("moco4j-loader-"));
    }

    @Test
    void unreadableImagesAreReplacedByTheirNeighbour() {
        SolidDataset ds = new SolidDataset(10, 2, Set.of(3, 9), Set.of());
        try (ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(2)))
                .batchSize(5).workers(2).shuffle(false).dropLast(false).build()) {
            EpochData e = run(l, 0);
            assertEquals(List.of(0, 1, 2, 4, 4, 5, 6, 7, 8, 0), e.indices(), "3 -> 4, 9 wraps around to 0");
            assertEquals(4 / 255f, e.views().get(0)[3 * 12], 1e-6, "the replacement's pixels");
            assertEquals(List.of(0, 1, 2, 1, 1, 2, 0, 1, 2, 0), e.labels(), "the replacement's labels");
            assertEquals(2, l.stats().unreadableImages());
            int loadsBefore = ds.loads.get();
            run(l, 1);
            assertEquals(10, ds.loads.get() - loadsBefore, "known bad images are not tried again (12 loads if they were)");
        }
    }

    @Test
    void batchesLiveInTheCallersManagerAndLeaveNothingBehind() {
        GeneratedScenes ds = GeneratedScenes.train(20, 1, 8);
        try (NDManager root = NDManager.newBaseManager();
             ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(8), TestTransforms.toTensor(8)))
                     .batchSize(5).workers(2).build()) {
            NDManager step = root.newSubManager();
            try (ViewLoader.Epoch it = l.epoch(0, step)) {
                while (it.hasNext()) {
                    ViewBatch b = it.next();
                    assertSame(step, b.view(0).getManager());
                    assertEquals(step.getDevice(), b.view(1).getDevice());
                    b.close();
                }
            }
            assertTrue(step.getManagedArrays().isEmpty(), "closing the batches frees every tensor");
            step.close();
            assertTrue(l.imagesPerSecond() > 0);
        }
    }

    @Test
    void closingTheLoaderUnderARunningEpochFailsInsteadOfHanging() {
        SolidDataset ds = new SolidDataset(4000, 2);
        ViewLoader l = ViewLoader.builder(ds, List.of(TestTransforms.toTensor(2))).batchSize(100).workers(1).prefetch(3).build();
        try (NDManager m = NDManager.newBaseManager()) {
            ViewLoader.Epoch it = l.epoch(0, m);
            it.next().close();
            l.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> {
                while (it.hasNext()) {
                    it.next().close();
                }
            });
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            assertFalse(it.hasNext());
        }
    }
}
