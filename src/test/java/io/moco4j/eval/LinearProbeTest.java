package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.data.ImageDataset;
import io.moco4j.io.TensorArchive;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LinearProbeTest {
    @TempDir
    Path dir;

    @Test
    void cachedFeaturesLearnSeparableToyProblemPerfectly() throws Exception {
        ImageDataset train = KnnMonitorTest.clusters(20, 1);
        ImageDataset val = KnnMonitorTest.clusters(10, 2);
        LinearProbeConfig cfg = LinearProbeConfig.defaults().withAugment(false).withEpochs(30, List.of(20, 25)).withBatchSize(16);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray fakeBackboneWeight = m.create(new float[] {1, 2, 3});
            Path run = dir.resolve("probe");
            LinearProbe.Result r = LinearProbe.run(ToyData::meanPool, Map.of("w", fakeBackboneWeight), train, val,
                    ToyData.toTensor(), ToyData.toTensor(), cfg, m, run, null);
            assertEquals(100.0, r.lastTop1(), 1e-9);
            assertEquals(100.0, r.bestTop1(), 1e-9);
            List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
            assertEquals(30, lines.size());
            JsonNode lastLine = new ObjectMapper().readTree(lines.get(29));
            assertEquals("lincls_epoch", lastLine.get("type").asText());
            assertEquals(30.0 * 0.1 * 0.1, lastLine.get("lr").asDouble(), 1e-12);
            assertEquals(100.0, lastLine.get("train_top1").asDouble(), 1e-9);
            assertTrue(lastLine.get("train_loss").asDouble() < 0.1, lines.get(29));
            TensorArchive.Contents best = TensorArchive.read(run.resolve("classifier_best.npz"));
            assertArrayEquals(new long[] {3, 3}, best.tensor("fc.weight").shape());
            assertArrayEquals(new long[] {3}, best.tensor("fc.bias").shape());
            assertTrue(best.metaJson().contains("\"layer\":\"backbone\""), best.metaJson());
            TensorArchive.Contents lastCkpt = TensorArchive.read(run.resolve("classifier_last.npz"));
            assertEquals(29, new ObjectMapper().readTree(lastCkpt.metaJson()).get("epoch").asInt());
            TrainingReport.Report report = TrainingReport.write(run);
            assertEquals(2, report.charts().size());
            assertTrue(report.summary().contains("val top-1: best 100.00%"), report.summary());
            JsonNode result = new ObjectMapper().readTree(run.resolve("result.json").toFile());
            assertEquals("cached-features", result.get("mode").asText());
            assertTrue(result.get("backbone_unchanged").asBoolean());
        }
    }

    @Test
    void augmentedModeLeavesResNetBackboneUnchanged() throws Exception {
        ImageDataset train = KnnMonitorTest.clusters(4, 1);
        ImageDataset val = KnnMonitorTest.clusters(2, 2);
        LinearProbeConfig cfg = LinearProbeConfig.defaults().withEpochs(2, List.of(1)).withBatchSize(5);
        try (NDManager m = NDManager.newBaseManager();
             ResNet net = ResNet.create(new ResNetSpec(18, true, 0.0625, false, HeadSpec.mlp(16, 8), 1), m, 5)) {
            StateChecksum before = StateChecksum.of(net.stateDict());
            LinearProbe.Result r = LinearProbe.run(net, train, val, ToyData.toTensor(), ToyData.toTensor(), cfg, dir.resolve("p"), null);
            before.verifyUnchanged(StateChecksum.of(net.stateDict()), "in the test");
            assertEquals(2, Files.readAllLines(dir.resolve("p/metrics.jsonl")).size());
            assertTrue(r.bestEpoch() >= 0);
            // classifier input is the pooled backbone width (32 * 1 at width 1/16), not the head's 8
            assertArrayEquals(new long[] {3, 32}, TensorArchive.read(dir.resolve("p/classifier_last.npz")).tensor("fc.weight").shape());
        }
    }

    @Test
    void backboneThatChangesItsStateFailsLoudly() {
        ImageDataset train = KnnMonitorTest.clusters(2, 1);
        ImageDataset val = KnnMonitorTest.clusters(1, 2);
        LinearProbeConfig cfg = LinearProbeConfig.defaults().withEpochs(1, List.of()).withBatchSize(3);
        try (NDManager m = NDManager.newBaseManager();
             ResNet net = ResNet.create(new ResNetSpec(18, true, 0.0625, false, HeadSpec.none(), 1), m, 5)) {
            // training-mode BatchNorm updates running_mean / running_var: exactly what the check must catch
            FeatureFunction leaky = x -> net.features(x, true);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> LinearProbe.run(leaky, net.stateDict(),
                    train, val, ToyData.toTensor(), ToyData.toTensor(), cfg, m, dir.resolve("bad"), null));
            assertTrue(e.getMessage().contains("changed"), e.getMessage());
        }
    }

    @Test
    void classifierInitialisationIsNormalWithStd001AndZeroBias() {
        try (NDManager m = NDManager.newBaseManager();
             LinearClassifier a = LinearClassifier.create(512, 100, 0.01, 1, m);
             LinearClassifier b = LinearClassifier.create(512, 100, 0.01, 2, m)) {
            float[] w = a.weight().toFloatArray();
            assertArrayEquals(new long[] {100, 512}, a.weight().getShape().getShape());
            double mean = 0;
            for (float v : w) {
                mean += v;
            }
            mean /= w.length;
            double var = 0;
            for (float v : w) {
                var += (v - mean) * (v - mean);
            }
            double std = Math.sqrt(var / w.length);
            // 51200 draws: standard error of the mean 0.01 / sqrt(51200) = 4.4e-5, of the std about 3.1e-5
            assertEquals(0.0, mean, 2.5e-4);
            assertEquals(0.01, std, 2.0e-4);
            assertTrue(a.bias().toFloatArray().length == 100);
            for (float v : a.bias().toFloatArray()) {
                assertEquals(0f, v);
            }
            assertNotEquals(a.weight().getFloat(0, 0), b.weight().getFloat(0, 0));
        }
    }

    @Test
    void stepScheduleAndLossMatchTheReference() {
        LinearProbeConfig d = LinearProbeConfig.defaults();
        assertEquals(30.0, d.lrAt(0), 1e-12);
        assertEquals(30.0, d.lrAt(59), 1e-12);
        assertEquals(3.0, d.lrAt(60), 1e-12);
        assertEquals(0.3, d.lrAt(80), 1e-12);
        assertEquals(0.3, d.lrAt(99), 1e-12);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = m.create(new float[] {0, 0, 1, 2, 3, 0}, new Shape(2, 3));
            NDArray labels = m.create(new long[] {0, 1});
            // row 0 (logits 0, 0, 1), label 0: -log(1 / (2 + e)); row 1 (logits 2, 3, 0), label 1: -log(e^3 / (e^2 + e^3 + 1))
            double expected = (Math.log(2 + Math.E) - Math.log(Math.exp(3) / (Math.exp(2) + Math.exp(3) + 1))) / 2;
            assertEquals(expected, LinearProbe.crossEntropy(logits, labels, 3).getFloat(), 1e-6);
        }
        // top-k counting with ties: logits (1, 1, 0) -> ranking 0, 1, 2
        assertEquals(1, LinearProbe.countTopK(new float[] {1, 1, 0}, new long[] {0}, 3, 1));
        assertEquals(0, LinearProbe.countTopK(new float[] {1, 1, 0}, new long[] {1}, 3, 1));
        assertEquals(1, LinearProbe.countTopK(new float[] {1, 1, 0}, new long[] {1}, 3, 2));
    }

    @Test
    void standardTransformsHaveTheRequestedSize() {
        for (int size : new int[] {32, 64}) {
            // 32 px evaluation is the CIFAR demo's (inputs already 32 x 32); larger sizes resize + centre crop
            io.moco4j.data.RgbImage img = size == 32 ? new io.moco4j.data.RgbImage(32, 32, new byte[32 * 32 * 3])
                    : new io.moco4j.data.RgbImage(40, 30, new byte[40 * 30 * 3]);
            for (var t : List.of(ProbeTransforms.train(size), ProbeTransforms.eval(size))) {
                assertEquals(size, t.height());
                assertEquals(size, t.width());
                float[] out = new float[3 * size * size];
                t.apply(img, new java.util.SplittableRandom(1), out, 0);
                assertTrue(Float.isFinite(out[0]) && out[0] < 0, "black pixels normalise below zero");
            }
        }
    }

    @Test
    void unlabeledDataIsAUserError() {
        ImageDataset unlabeled = ToyData.solid(new int[][] {{1, 2, 3}}, new int[] {0}, List.of());
        try (NDManager m = NDManager.newBaseManager()) {
            UserException e = assertThrows(UserException.class, () -> LinearProbe.run(ToyData::meanPool, Map.of(), unlabeled,
                    KnnMonitorTest.clusters(1, 1), ToyData.toTensor(), ToyData.toTensor(), LinearProbeConfig.defaults(), m, dir, null));
            assertTrue(e.getMessage().contains("no labels"), e.getMessage());
        }
        assertThrows(UserException.class, () -> LinearProbeConfig.defaults().withLr(0));
    }
}
