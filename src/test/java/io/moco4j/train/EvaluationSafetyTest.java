package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.GeneratedScenes;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.eval.EpochEvaluator;
import io.moco4j.model.ResNet;
import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The kNN monitor inside pretraining: any image size works, bad data is caught up front, a late failure is skipped. */
class EvaluationSafetyTest {

    /** Wraps a data set, failing loads at chosen indices with an I/O error or an unexpected one. */
    record Failing(ImageDataset inner, int ioFrom, int crashFrom) implements ImageDataset {
        @Override public int size() { return inner.size(); }
        @Override public RgbImage load(int index) throws IOException {
            if (index >= ioFrom) {
                throw new IOException("test: unreadable");
            }
            if (index >= crashFrom) {
                throw new IllegalStateException("test: evaluation crash at " + index);
            }
            return inner.load(index);
        }
        @Override public int label(int index) { return inner.label(index); }
        @Override public List<String> classes() { return inner.classes(); }
        @Override public String describe(int index) { return inner.describe(index); }
    }

    static TrainingData withVal(MocoConfig cfg, ImageDataset val) {
        TrainingData d = TrainingData.open(cfg);
        return new TrainingData(d.train(), val, d.views(), d.evalTransform(), d.description());
    }

    @Test
    void monitorOnImagesOfAnotherSizeRunsEveryEpoch(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = PretrainingTest.tiny();
        // 28-px validation images (MNIST-like) while the training view is 32 px: resized, then centre cropped.
        Pretraining.Outcome o = PretrainingTest.run(tmp, cfg, false, Long.MAX_VALUE, withVal(cfg, GeneratedScenes.test(16, 0, 28)));
        assertEquals(Pretraining.Status.COMPLETED, o.status());
        List<JsonNode> epochs = PretrainingTest.records(tmp, "epoch");
        assertEquals(2, epochs.size());
        for (JsonNode e : epochs) {
            assertTrue(e.has("knn_top1"), e.toString());
        }
    }

    @Test
    void aFailingEvaluationIsSkippedAndTrainingGoesOn(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = PretrainingTest.tiny();
        ImageDataset val = new Failing(GeneratedScenes.test(16, 0, 32), Integer.MAX_VALUE, 5); // image 0 fine, 5+ crash
        Pretraining.Outcome o = PretrainingTest.run(tmp, cfg, false, Long.MAX_VALUE, withVal(cfg, val));
        assertEquals(Pretraining.Status.COMPLETED, o.status());
        assertEquals(12, o.progress().globalStep());
        List<JsonNode> epochs = PretrainingTest.records(tmp, "epoch");
        assertEquals(2, epochs.size());
        assertFalse(epochs.get(1).has("knn_top1"));
    }

    @Test
    void unreadableMonitorDataStopsBeforeTheFirstStep(@TempDir Path tmp) {
        MocoConfig cfg = PretrainingTest.tiny();
        ImageDataset val = new Failing(GeneratedScenes.test(16, 0, 32), 0, Integer.MAX_VALUE);
        UserException e = assertThrows(UserException.class,
                () -> PretrainingTest.run(tmp, cfg, false, Long.MAX_VALUE, withVal(cfg, val)));
        assertTrue(e.getMessage().contains("kNN monitor cannot read"), e.getMessage());
        assertFalse(Files.exists(RunDirectory.of(tmp).lastCheckpoint()), "no step was trained");
    }

    @Test
    void safeEvaluationCountsAndReportsFailures() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        EpochEvaluator boom = new EpochEvaluator() {
            @Override public boolean due(int epoch, int epochs) { return true; }
            @Override public Map<String, Double> evaluate(io.moco4j.model.Encoder encoder, int epoch) {
                throw new IllegalStateException("out of luck");
            }
        };
        SafeEvaluation safe = new SafeEvaluation(boom, "kNN evaluation", new PrintStream(buf, true));
        assertEquals(Map.of(), safe.evaluate(null, 2));
        assertEquals(Map.of(), safe.evaluate(null, 3));
        assertEquals(2, safe.failures());
        String out = buf.toString();
        assertTrue(out.contains("kNN evaluation after epoch 3 failed (IllegalStateException: out of luck); skipped"), out);
        assertEquals(2, out.lines().count());
    }
}
