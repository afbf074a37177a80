package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.moco4j.eval.LinearProbeConfig;
import io.moco4j.util.UserException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** lincls picks the linear protocol of the checkpoint's MoCo version unless told otherwise; flags override it. */
class LinclsProtocolTest {

    @Test
    void theCheckpointVersionChoosesTheProtocol() {
        LinclsCommand c = new LinclsCommand();
        LinearProbeConfig v1 = c.protocol(2, false);
        assertEquals(100, v1.epochs());
        assertEquals(30.0, v1.lr());
        assertEquals(List.of(60, 80), v1.milestones());
        assertEquals(LinearProbeConfig.LrDecay.STEP, v1.decay());
        LinearProbeConfig v3 = c.protocol(3, false);
        assertEquals(90, v3.epochs());
        assertEquals(1024, v3.batchSize());
        assertEquals(0.4, v3.lr(), 1e-12, "0.1 x 1024 / 256");
        assertEquals(0.0, v3.weightDecay());
        assertEquals(LinearProbeConfig.LrDecay.COSINE, v3.decay());
        assertEquals(12.0, c.protocol(3, true).lr(), 1e-12, "ViT: 3 x 1024 / 256");
    }

    @Test
    void flagsOverrideTheProtocolAndUnknownProtocolsAreRefused() {
        LinclsCommand c = new LinclsCommand();
        c.protocol = "v3";
        c.epochs = 5;
        c.batchSize = 64;
        LinearProbeConfig p = c.protocol(1, false);
        assertEquals(5, p.epochs());
        assertEquals(64, p.batchSize());
        assertEquals(LinearProbeConfig.LrDecay.COSINE, p.decay());
        c.protocol = "v9";
        assertThrows(UserException.class, () -> c.protocol(3, false));
    }
}
