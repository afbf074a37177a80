package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.optim.LossScaler;
import io.moco4j.testutil.Golden;
import io.moco4j.train.Checkpoints;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * main_moco.py's {@code scaler} entry (the fp16 GradScaler state) imported into a MoCo4J checkpoint and exported back
 * (golden/scaler/checkpoint_fp16.pth.tar: the moco-v3 golden checkpoint with a real
 * GradScaler's state_dict after the short-interval sequence, tools/golden/scaler.py).
 */
class ScalerInteropTest {
    private static final Map<String, String> SMALL = Map.of("train.batch_size", "4");

    /** The GradScaler state_dict the script saved (golden/scaler/short_interval.json), in LossScaler's types. */
    private static Map<String, Object> gradScalerState() {
        Map<String, Object> out = new LinkedHashMap<>();
        JsonNode sd = Golden.json("scaler/short_interval.json").get("state_dict");
        sd.fields().forEachRemaining(e -> out.put(e.getKey(),
                e.getValue().isIntegralNumber() ? (Object) e.getValue().asLong() : (Object) e.getValue().asDouble()));
        return out;
    }

    @Test
    void mainMocoScalerEntryImportsAndExportsUnchanged(@TempDir Path tmp) {
        Path ckpt = tmp.resolve("imported.ckpt");
        CheckpointImport.Result r = CheckpointImport.run(new CheckpointImport.Request(
                CheckpointInteropTest.golden("scaler/checkpoint_fp16.pth.tar"), ckpt, null, SMALL));
        assertTrue(r.lines().stream().anyMatch(l -> l.contains("GradScaler state (scale 32768, 1 of 3 clean steps)")),
                r.lines().toString());
        Map<String, Object> want = gradScalerState();
        assertEquals(want, Checkpoints.load(ckpt).scalerState());
        LossScaler resumed = new LossScaler();
        resumed.loadStateDict(Checkpoints.load(ckpt).scalerState());
        resumed.update(false);
        resumed.update(false);
        assertEquals(65536.0, resumed.scale(), "1 of 3 clean steps + 2 more: the imported tracker carries on");

        Path out = tmp.resolve("export.pth.tar");
        CheckpointExport.run(new CheckpointExport.Request(ckpt, CheckpointExport.Format.MOCO, out, null));
        Object scaler = ((Map<?, ?>) TorchCheckpointReader.load(out)).get("scaler");
        assertEquals(want, scaler, "exported as main_moco.py's scaler entry, the same keys and values");
    }

    @Test
    void aRunWithoutFp16ExportsAFreshGradScalerState(@TempDir Path tmp) {
        Path ckpt = tmp.resolve("imported.ckpt");
        // the moco-v3 golden file was saved on a CPU: GradScaler disabled, scaler entry {}
        CheckpointImport.run(new CheckpointImport.Request(CheckpointInteropTest.golden("moco_v3/checkpoint_0000.pth.tar"),
                ckpt, null, SMALL));
        assertNull(Checkpoints.load(ckpt).scalerState(), "an empty scaler entry is not kept");
        Path out = tmp.resolve("export.pth.tar");
        CheckpointExport.run(new CheckpointExport.Request(ckpt, CheckpointExport.Format.MOCO, out, null));
        // an empty dict would make an enabled GradScaler's load_state_dict raise on a GPU
        assertEquals(Map.of("scale", 65536.0, "growth_factor", 2.0, "backoff_factor", 0.5, "growth_interval", 2000L,
                "_growth_tracker", 0L), ((Map<?, ?>) TorchCheckpointReader.load(out)).get("scaler"));
    }

    @Test
    void aDamagedScalerEntryIsRefusedInOneLine() {
        Map<String, Object> bad = new LinkedHashMap<>(gradScalerState());
        bad.remove("_growth_tracker");
        UserException e = assertThrows(UserException.class, () -> MocoV3Import.scalerState(bad));
        assertTrue(e.getMessage().contains("'scaler' entry") && e.getMessage().contains("_growth_tracker"), e.getMessage());
        assertNull(MocoV3Import.scalerState(Map.of()));
    }
}
