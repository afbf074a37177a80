package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.pytorch.jni.JniUtils;
import io.moco4j.config.MocoConfig;
import io.moco4j.train.Pretraining;
import io.moco4j.train.PretrainingTest;
import io.moco4j.train.StopSignal;
import io.moco4j.train.TrainingData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The online probe trains on one process only (its gradients are not all-reduced). With several processes a run
 * that would have had one says so in one line on rank 0, instead of dropping it silently.
 */
class OnlineProbeOnRanksTest {

    @Test
    void severalProcessesSayTheProbeIsOff(@TempDir Path tmp) throws Exception {
        // labelled generated scenes with a validation split: on one process the probe runs (OnlineProbeResumeTest)
        MocoConfig cfg = PretrainingTest.tiny("train.online_probe=true", "train.knn_every=0", "train.checkpoint_every=0");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int threads = CoreShare.libtorchThreads(); // a 2-rank run sets this rank's thread share: put it back after
        try {
            Pretraining.run(new Pretraining.Request(tmp, cfg, Device.cpu(), false, TrainingData.open(cfg),
                    StopSignal.manual(), new PrintStream(bytes, true, StandardCharsets.UTF_8), 1), new MirroredRanks());
        } finally {
            JniUtils.setNumThreads(threads);
        }
        String said = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(said.lines().anyMatch(l -> l.startsWith("Note: no online probe with 2 processes")
                && l.contains("--processes 1") && l.contains("lincls")), said);
        assertFalse(said.contains("Online linear probe"), said);
    }
}
