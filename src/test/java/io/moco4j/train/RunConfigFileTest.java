package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.yaml keeps the comments a run started with (the data-driven reasons) through --resume. */
class RunConfigFileTest {
    static final List<String> NOTES = List.of("Settings chosen from the data (48 images, 32 px, colour, 10 classes):",
            "  train.epochs = 2      (about 1000 steps)", "  moco.queue_size = 16  (within QueueCoverage's limit)");

    @Test
    void sameSettingsLeaveTheFileAlone() {
        MocoConfig cfg = PretrainingTest.tiny();
        String file = RunConfigFile.forNewRun(NOTES, cfg);
        assertEquals(Optional.empty(), RunConfigFile.forResume(file, cfg, "at epoch 2, step 0"));
    }

    @Test
    void changedSettingsKeepTheCommentsAndNameTheChange() {
        MocoConfig cfg = PretrainingTest.tiny();
        String file = "# initial weights (--init-from): a.ckpt\n# sha256: 00ff\n" + RunConfigFile.forNewRun(NOTES, cfg);
        MocoConfig longer = Pretraining.resumedConfig(cfg, Map.of("train.epochs", "5"));
        String after = RunConfigFile.forResume(file, longer, "at epoch 2, step 0").orElseThrow();
        String[] lines = after.split("\n");
        assertEquals("# initial weights (--init-from): a.ckpt", lines[0]);
        assertEquals("# sha256: 00ff", lines[1]);
        for (int i = 0; i < NOTES.size(); i++) {
            assertEquals("# " + NOTES.get(i), lines[2 + i]);
        }
        assertEquals("# changed on --resume at epoch 2, step 0: train.epochs: 2 -> 5", lines[2 + NOTES.size()]);
        String settings = after.substring(RunConfigFile.bodyStart(after));
        assertEquals(ConfigLoader.toYaml(longer), settings);
        assertEquals(5, ConfigLoader.fromYaml(after).train().epochs(), "the file still reads as the new settings");
    }

    /** Through Pretraining: a stop and a plain resume leave config.yaml byte for byte; a changed setting keeps the notes. */
    @Test
    void resumeThroughPretraining(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        MocoConfig cfg = PretrainingTest.tiny("train.knn_every=0", "train.checkpoint_every=0");
        run(dir, cfg, false, 4);
        Path file = RunDirectory.of(dir).config();
        String first = Files.readString(file);
        assertTrue(first.startsWith("# " + NOTES.get(0) + "\n"), first);

        MocoConfig stored = Checkpoints.load(RunDirectory.of(dir).lastCheckpoint()).config();
        run(dir, Pretraining.resumedConfig(stored, Map.of()), true, 8);
        assertEquals(first, Files.readString(file), "a resume that changes nothing leaves config.yaml as it was");

        run(dir, Pretraining.resumedConfig(stored, Map.of("train.epochs", "3")), true, 9);
        String third = Files.readString(file);
        for (String note : NOTES) {
            assertTrue(third.contains("# " + note + "\n"), "kept: " + note + "\n" + third);
        }
        assertTrue(third.contains("# changed on --resume at epoch 2, step 2: train.epochs: 2 -> 3\n"), third);
        assertEquals(3, ConfigLoader.fromYaml(third).train().epochs());
    }

    private static void run(Path dir, MocoConfig cfg, boolean resume, long maxSteps) throws Exception {
        Pretraining.run(new Pretraining.Request(dir, cfg, Device.cpu(), resume, TrainingData.open(cfg), StopSignal.manual(),
                new PrintStream(new ByteArrayOutputStream()), maxSteps, null, NOTES));
    }
}
