package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.LossScaler;
import io.moco4j.optim.Optimizer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The fp16 loss scaler's state in MoCo4J checkpoints (meta {@code scaler}, GradScaler's keys): written only when given. */
class ScalerCheckpointTest {

    @Test
    void moco4jCheckpointKeepsTheScalerOnlyWhenGiven(@TempDir Path tmp) throws Exception {
        MocoConfig cfg = MocoV3PretrainingTest.tiny();
        LossScaler scaler = new LossScaler(1024, 2, 0.5, 5);
        scaler.update(false);
        scaler.update(true);
        scaler.update(false);
        try (NDManager m = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, m);
             Optimizer optimizer = Optimizers.from(cfg)) {
            Path with = tmp.resolve("fp16.ckpt");
            Checkpoints.save(with, cfg, moco, optimizer, new TrainingProgress(1, 0, 3, 1.5), scaler);
            assertEquals(scaler.stateDict(), Checkpoints.load(with).scalerState());
            Path without = tmp.resolve("fp32.ckpt");
            Checkpoints.save(without, cfg, moco, optimizer, new TrainingProgress(1, 0, 3, 1.5));
            assertNull(Checkpoints.load(without).scalerState());
        }
    }

}
