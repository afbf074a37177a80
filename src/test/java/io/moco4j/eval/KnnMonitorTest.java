package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.data.ImageDataset;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Networks;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KnnMonitorTest {
    private static final List<String> RGB = List.of("red", "green", "blue");

    /** n images per class; class c has a strong channel c plus noise, so mean colours separate by direction. */
    static ImageDataset clusters(int n, long seed) {
        Random rng = new Random(seed);
        int[][] colours = new int[3 * n][];
        int[] labels = new int[3 * n];
        for (int i = 0; i < 3 * n; i++) {
            int c = i % 3;
            int[] rgb = new int[3];
            for (int ch = 0; ch < 3; ch++) {
                rgb[ch] = (ch == c ? 160 : 10) + rng.nextInt(60);
            }
            colours[i] = rgb;
            labels[i] = c;
        }
        return ToyData.solid(colours, labels, RGB);
    }

    @Test
    void featureBankHoldsEveryImageInOrder() {
        int[][] colours = {{255, 0, 0}, {0, 51, 0}, {0, 0, 102}, {5, 10, 15}, {20, 40, 60}};
        ImageDataset ds = ToyData.solid(colours, new int[] {0, 1, 2, 0, 1}, RGB);
        try (NDManager m = NDManager.newBaseManager();
             Features f = FeatureBank.extract(ds, ToyData.toTensor(), ToyData::meanPool, FeatureLayer.BACKBONE, 2, m)) {
            assertEquals(5, f.size());
            assertEquals(3, f.dim());
            float[] v = f.values().toFloatArray();
            for (int i = 0; i < 5; i++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(colours[i][c] / 255f, v[i * 3 + c], 1e-6);
                }
            }
            assertArrayEquals(new long[] {0, 1, 2, 0, 1}, f.labels());
        }
    }

    @Test
    void dueEveryNEpochsAndAtTheEnd() {
        KnnMonitor mon = new KnnMonitor(clusters(2, 1), clusters(1, 2), ToyData.toTensor(), KnnMonitor.Config.of(2, 5, 0.1, 0, 0));
        boolean[] due = new boolean[5];
        for (int e = 0; e < 5; e++) {
            due[e] = mon.due(e, 5);
        }
        assertArrayEquals(new boolean[] {false, true, false, true, true}, due);
        KnnMonitor off = new KnnMonitor(clusters(2, 1), clusters(1, 2), ToyData.toTensor(), KnnMonitor.Config.of(0, 5, 0.1, 0, 0));
        assertFalse(off.due(4, 5));
    }

    @Test
    void separableClustersScorePerfectlyOnSubsets() {
        KnnMonitor mon = new KnnMonitor(clusters(20, 1), clusters(10, 2), ToyData.toTensor(), KnnMonitor.Config.of(1, 5, 0.1, 30, 12));
        assertEquals(30, mon.bankSize());
        assertEquals(12, mon.querySize());
        try (NDManager m = NDManager.newBaseManager()) {
            KnnResult r = mon.run(ToyData::meanPool, m);
            assertEquals(12, r.numQueries());
            assertEquals(100.0, r.top1(), 1e-9);
        }
    }

    @Test
    void resnetEncoderIsEvaluatedWithoutChangingIt() {
        KnnMonitor mon = new KnnMonitor(clusters(4, 1), clusters(2, 2), ToyData.toTensor(), KnnMonitor.Config.of(1, 3, 0.1, 0, 0));
        try (NDManager m = NDManager.newBaseManager();
             ResNet net = ResNet.create(new ResNetSpec(18, true, 0.0625, false, HeadSpec.linear(8), 1), m, 3)) {
            Networks.setRequiresGradient(net, true); // as the query encoder during training
            StateChecksum before = StateChecksum.of(net.stateDict());
            Map<String, Double> values = mon.evaluate(net, 0);
            assertEquals(List.of("knn_top1", "knn_top5"), List.copyOf(values.keySet()));
            assertTrue(values.get("knn_top1") >= 0 && values.get("knn_top1") <= 100);
            assertEquals(100.0, values.get("knn_top5"), 1e-9); // 3 classes: top-5 always contains the label
            before.verifyUnchanged(StateChecksum.of(net.stateDict()), "by the kNN monitor");
        }
    }

    @Test
    void unlabeledOrMismatchedSetsAreUserErrors() {
        ImageDataset unlabeled = ToyData.solid(new int[][] {{1, 2, 3}}, new int[] {0}, List.of());
        UserException e = assertThrows(UserException.class,
                () -> new KnnMonitor(unlabeled, clusters(1, 2), ToyData.toTensor(), KnnMonitor.Config.of(1, 5, 0.1, 0, 0)));
        assertTrue(e.getMessage().contains("no labels"), e.getMessage());
        ImageDataset twoClasses = ToyData.solid(new int[][] {{1, 2, 3}}, new int[] {0}, List.of("a", "b"));
        assertThrows(UserException.class,
                () -> new KnnMonitor(clusters(1, 1), twoClasses, ToyData.toTensor(), KnnMonitor.Config.of(1, 5, 0.1, 0, 0)));
        try (NDManager m = NDManager.newBaseManager()) {
            assertThrows(UserException.class, () -> KnnEvaluation.run(ToyData::meanPool, FeatureLayer.BACKBONE, clusters(1, 1),
                    unlabeled, ToyData.toTensor(), 5, 0.1, 8, 8, m, null));
        }
    }

    @Test
    void standaloneEvaluationWritesJson(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            Path out = dir.resolve("knn.json");
            KnnResult r = KnnEvaluation.run(ToyData::meanPool, FeatureLayer.HEAD, clusters(10, 1), clusters(5, 2),
                    ToyData.toTensor(), 200, 0.1, 7, 4, m, out);
            assertEquals(30, r.k()); // clamped to the bank size
            var json = new ObjectMapper().readTree(out.toFile());
            assertEquals(100.0, json.get("knn_top1").asDouble(), 1e-9);
            assertEquals("head", json.get("layer").asText());
            assertEquals(30, json.get("bank_size").asInt());
        }
    }

    @Test
    void randomSubsetIsSortedDeterministicAndDistinct() {
        ImageDataset base = clusters(50, 1);
        ImageDataset a = DatasetSubset.random(base, 40, 9);
        ImageDataset b = DatasetSubset.random(base, 40, 9);
        assertEquals(40, a.size());
        String prev = null;
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.describe(i), b.describe(i));
            int idx = Integer.parseInt(a.describe(i).replaceAll("\\D", ""));
            if (prev != null) {
                assertTrue(idx > Integer.parseInt(prev));
            }
            prev = Integer.toString(idx);
            assertTrue(seen.add(a.describe(i)));
        }
        assertTrue(DatasetSubset.random(base, 0, 9) == base);
    }
}
