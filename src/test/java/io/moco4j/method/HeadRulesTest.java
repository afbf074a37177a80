package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.model.Mlp;
import io.moco4j.model.ProjectedEncoder;
import org.junit.jupiter.api.Test;

/** The presets and the built networks follow moco-v3's per-backbone MLP rules (HeadRules), which are stated once. */
class HeadRulesTest {

    @Test
    void everyV3PresetBuildsTheProjectorTheRulesGiveItsBackbone() {
        int v3 = 0;
        for (String preset : ConfigLoader.PRESETS) {
            MocoConfig cfg = ConfigLoader.defaults().preset(preset).build();
            if (cfg.version() < 3) {
                continue;
            }
            v3++;
            HeadRules rules = HeadRules.of(cfg);
            assertEquals(rules.projectorLayers(), cfg.model().headLayers(), preset + ": model.head_layers against " + rules);
            assertEquals("projector", cfg.model().head(), preset);
        }
        assertTrue(v3 >= 4, "the v3 presets were found: " + v3);
    }

    @Test
    void theEncodersAreBuiltByTheRules() {
        // moco-v3 builder.py: MoCo_ResNet fc = 2 layers, predictor last_bn=False; MoCo_ViT head = 3 layers, last BN kept
        for (String preset : new String[] {"cpu-small-v3", "cpu-vit"}) {
            MocoConfig cfg = ConfigLoader.defaults().preset(preset).build();
            boolean vit = preset.equals("cpu-vit");
            try (NDManager m = NDManager.newBaseManager(Device.cpu());
                 ProjectedEncoder q = (ProjectedEncoder) Encoders.create(cfg, m, 0);
                 Mlp predictor = Encoders.predictor(cfg, m, 0)) {
                assertEquals(vit ? "head." : "fc.", q.headPrefix(), preset);
                assertEquals(vit ? 3 : 2, Encoders.projectorSpec(cfg, q.featureDim()).layers(), preset);
                assertEquals(2, predictor.spec().layers(), preset);
                assertEquals(vit, predictor.spec().lastBn(), preset);
                assertEquals(vit, predictor.stateDict().containsKey("4.running_mean"), preset + ": predictor's last BN");
            }
        }
    }
}
