package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.eval.OnlineProbe;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The online probe runs by default when the training images have labels and --val is given; its state goes into the
 * checkpoints and comes back on --resume; old checkpoints start it fresh.
 */
class OnlineProbeResumeTest {

    static MocoConfig probed() {
        // generated scenes carry labels and a validation split: the probe runs
        return PretrainingTest.tiny("train.online_probe=true", "train.knn_every=0", "train.checkpoint_every=0");
    }

    static String run(Path dir, MocoConfig cfg, boolean resume, long maxSteps) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Pretraining.run(new Pretraining.Request(dir, cfg, Device.cpu(), resume, TrainingData.open(cfg), StopSignal.manual(),
                new PrintStream(out, true, StandardCharsets.UTF_8), maxSteps));
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The probe's saved tensors, each as text that tells every bit apart (floats' shortest round-trip form, longs). */
    static Map<String, String> probeState(Path dir) {
        Map<String, String> out = new LinkedHashMap<>();
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            Checkpoints.load(RunDirectory.of(dir).lastCheckpoint()).tensors(Checkpoints.ONLINE_PROBE, m).forEach((k, v) ->
                    out.put(k, k.equals(OnlineProbe.TRAIN_SUMS) ? Arrays.toString(v.toLongArray()) : Arrays.toString(v.toFloatArray())));
        }
        return out;
    }

    /**
     * 12 steps straight against 4 + resume + 8 (the stop lands mid-epoch, so the epoch's running probe loss/top-1
     * must come back too). The probe sees the same features in both runs (the existing resume test shows the MoCo
     * step continues exactly) and its own state is saved as float32 and restored with an exact copy, so its weights,
     * momentum buffers and the logged probe values must be bit-identical: no tolerance, so any lost state shows.
     */
    @Test
    void nEpochsStraightEqualHalfThenResumeThenHalf(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = probed();
        Path straight = tmp.resolve("straight");
        Path split = tmp.resolve("split");
        String said = run(straight, cfg, false, Long.MAX_VALUE);
        assertTrue(said.contains("Online linear probe"), said);
        run(split, cfg, false, 4);
        String resumed = run(split, Checkpoints.load(RunDirectory.of(split).lastCheckpoint()).config(), true, Long.MAX_VALUE);
        assertFalse(resumed.contains("starts fresh"), resumed);

        Map<String, String> a = probeState(straight);
        Map<String, String> b = probeState(split);
        assertEquals(List.of(OnlineProbe.WEIGHT, OnlineProbe.BIAS, OnlineProbe.WEIGHT_MOMENTUM, OnlineProbe.BIAS_MOMENTUM,
                OnlineProbe.TRAIN_SUMS), List.copyOf(a.keySet()));
        a.forEach((k, v) -> assertEquals(v, b.get(k), "probe " + k + " after 12 steps straight vs 4 + resume + 8"));
        assertFalse(a.get(OnlineProbe.WEIGHT_MOMENTUM).matches("[\\[\\]0., -]*"), "the probe trained (momentum not all zero)");

        List<JsonNode> ea = PretrainingTest.records(straight, "epoch");
        List<JsonNode> eb = PretrainingTest.records(split, "epoch");
        assertEquals(2, ea.size());
        assertEquals(ea.size(), eb.size());
        for (int e = 0; e < ea.size(); e++) {
            for (String key : new String[] {"probe_top1", "probe_train_top1", "probe_train_loss"}) {
                assertTrue(ea.get(e).has(key), ea.get(e).toString());
                assertEquals(ea.get(e).path(key).asDouble(), eb.get(e).path(key).asDouble(), 0.0, "epoch " + (e + 1) + " " + key);
            }
        }
    }

    /** A checkpoint without probe state (as every one written before this change): the run resumes, the probe fresh. */
    @Test
    void aCheckpointWithoutProbeStateResumesWithAFreshProbeSaidInOneLine(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        run(dir, PretrainingTest.tiny("train.online_probe=false", "train.knn_every=0", "train.checkpoint_every=0"), false, 4);
        assertTrue(probeState(dir).isEmpty(), "the probe was off: nothing of it saved");

        MocoConfig on = Pretraining.resumedConfig(Checkpoints.load(RunDirectory.of(dir).lastCheckpoint()).config(),
                Map.of("train.online_probe", "true"));
        String said = run(dir, on, true, Long.MAX_VALUE);
        List<String> fresh = said.lines().filter(l -> l.contains("online probe starts fresh")).toList();
        assertEquals(1, fresh.size(), said);
        assertTrue(fresh.get(0).contains("no online probe state"), fresh.get(0));
        assertEquals(5, probeState(dir).size(), "saved from then on");
    }

    /** Default settings: on with labelled training images and a validation set; off without --val or without labels. */
    @Test
    void onByDefaultOnlyWithLabelsAndVal(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = PretrainingTest.tiny("train.knn_every=0", "train.checkpoint_every=0", "train.epochs=1");
        TrainingData labelled = TrainingData.open(cfg);
        assertTrue(labelled.train().isLabeled() && labelled.val() != null);

        assertTrue(run(tmp.resolve("a"), cfg, labelled).contains("Online linear probe"));
        assertEquals(5, probeState(tmp.resolve("a")).size());
        assertTrue(PretrainingTest.records(tmp.resolve("a"), "epoch").get(0).has("probe_top1"));

        TrainingData noVal = new TrainingData(labelled.train(), null, labelled.views(), labelled.evalTransform(), "no val");
        assertFalse(run(tmp.resolve("b"), cfg, noVal).contains("Online linear probe"));
        assertTrue(probeState(tmp.resolve("b")).isEmpty());

        ImageDataset unlabeled = new ImageDataset() {
            @Override public int size() { return labelled.train().size(); }
            @Override public RgbImage load(int index) throws java.io.IOException { return labelled.train().load(index); }
            @Override public int label(int index) { return UNLABELED; }
            @Override public List<String> classes() { return List.of(); }
            @Override public String describe(int index) { return labelled.train().describe(index); }
        };
        TrainingData noLabels = new TrainingData(unlabeled, labelled.val(), labelled.views(), labelled.evalTransform(), "unlabeled");
        assertFalse(run(tmp.resolve("c"), cfg, noLabels).contains("Online linear probe"));
        assertTrue(probeState(tmp.resolve("c")).isEmpty());
    }

    private static String run(Path dir, MocoConfig cfg, TrainingData data) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Pretraining.run(new Pretraining.Request(dir, cfg, Device.cpu(), false, data, StopSignal.manual(),
                new PrintStream(out, true, StandardCharsets.UTF_8), Long.MAX_VALUE));
        return out.toString(StandardCharsets.UTF_8);
    }
}
