package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import org.junit.jupiter.api.Test;

/** moco-v3's main_lincls.py protocol ({@link LinearProbeConfig#mocoV3Resnet()}) and its cosine learning rate. */
class MocoV3LinearProtocolTest {

    @Test
    void settingsAreMainLinclsDefaultsForResNet() {
        LinearProbeConfig c = LinearProbeConfig.mocoV3Resnet();
        assertEquals(90, c.epochs());
        assertEquals(1024, c.batchSize());
        assertEquals(0.4, c.lr(), 1e-15); // --lr 0.1 * batch 1024 / 256
        assertEquals(0.9, c.momentum());
        assertEquals(0.0, c.weightDecay());
        assertEquals(0.01, c.initStd());
        assertEquals(FeatureLayer.BACKBONE, c.layer());
        assertTrue(c.augment());
        assertEquals(LinearProbeConfig.LrDecay.COSINE, c.decay());
        assertEquals(LinearProbeConfig.LrDecay.STEP, LinearProbeConfig.defaults().decay(), "v1/v2 probe unchanged");
        assertEquals(LinearProbeConfig.LrDecay.COSINE, c.withEpochs(10, java.util.List.of()).withBatchSize(8).decay());
    }

    @Test
    void cosineMatchesAdjustLearningRateOfMocoV3MainLincls() {
        JsonNode cases = Golden.json("moco_v3/schedules.json").get("lincls_lr");
        for (JsonNode c : cases) {
            int epochs = c.get("epochs").asInt();
            LinearProbeConfig cfg = LinearProbeConfig.mocoV3Resnet().withEpochs(epochs, java.util.List.of())
                    .withLr(c.get("init_lr").asDouble());
            for (JsonNode v : c.get("values")) {
                double expected = v.get(1).asDouble();
                assertEquals(expected, cfg.lrAt(v.get(0).asInt()), 1e-14 * Math.abs(expected) + 1e-300, "epoch " + v);
            }
        }
        // and the step rule would not: epoch 45 of 90 is half the rate under cosine, the full rate under step decay
        assertEquals(0.2, LinearProbeConfig.mocoV3Resnet().lrAt(45), 1e-12);
        assertEquals(0.4, LinearProbeConfig.mocoV3Resnet().withDecay(LinearProbeConfig.LrDecay.STEP).lrAt(45), 1e-12);
    }
}
