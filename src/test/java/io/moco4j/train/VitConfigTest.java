package io.moco4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.Encoders;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast;
import io.moco4j.model.ProjectedEncoder;
import io.moco4j.model.VisionTransformer;
import io.moco4j.optim.AdamW;
import io.moco4j.optim.Optimizer;
import io.moco4j.util.UserException;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The ViT presets build MoCo_ViT's layout through the engine: the backbone with a 3-layer projector under
 * {@code head.} (last BN), a predictor that keeps its last BN, AdamW, the patch projection frozen; the values are
 * CONFIG.md's. (The numerics of these pieces against the official code: VitMocoV3EngineTest, VitMocoStepGoldenTest.)
 */
class VitConfigTest {

    @Test
    void theVitPresetsCarryConfigMdsValues() {
        MocoConfig s = ConfigLoader.defaults().preset("moco-v3-vit-s").build();
        assertEquals("vit_small", s.model().arch());
        assertEquals("adamw", s.optim().name());
        assertEquals(1.5e-4 * 4096 / 256, s.optim().effectiveLr(s.train().batchSize()), 1e-15);
        assertEquals(0.1, s.optim().weightDecay());
        assertEquals(300, s.train().epochs());
        assertEquals(40, s.optim().warmupEpochs());
        assertEquals(0.2, s.moco().temperature());
        assertEquals(0.08, s.train().cropMin());
        assertTrue(s.model().stopGradConv1());
        assertEquals(3, s.model().headLayers());
        assertEquals("vit_base", ConfigLoader.defaults().preset("moco-v3-vit-b").build().model().arch());
        assertEquals(768, Encoders.vitSpec(ConfigLoader.defaults().preset("moco-v3-vit-b").build()).width());
        assertEquals(12, Encoders.vitSpec(s).heads(), "the official ViT-S has 12 heads");
    }

    @Test
    void cpuVitBuildsMocoVitsLayoutAndTrainsAStep() {
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-vit").set("model.head_hidden=16").set("model.dim=8")
                .set("model.predictor_hidden=16").set("train.batch_size=4").build();
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast method = MethodFactory.fresh(cfg, root);
             Optimizer optimizer = Optimizers.from(cfg)) {
            assertInstanceOf(AdamW.class, optimizer);
            MocoV3 moco = assertInstanceOf(MocoV3.class, method);
            ProjectedEncoder q = assertInstanceOf(ProjectedEncoder.class, moco.encoderQ());
            VisionTransformer vit = assertInstanceOf(VisionTransformer.class, q.backbone());
            assertEquals(4, vit.spec().patchSize());
            assertEquals(List.of(128, 4, 4), List.of(vit.spec().width(), vit.spec().depth(), vit.spec().heads()),
                    "cpu-vit narrows vit_cifar_tiny to D 128, 4 blocks, 4 heads (the preset's comment says why)");
            assertEquals("head.", q.headPrefix());
            Set<String> keys = q.stateDict().keySet();
            assertTrue(keys.containsAll(List.of("cls_token", "pos_embed", "patch_embed.proj.weight", "head.0.weight",
                    "head.3.weight", "head.6.weight", "head.7.running_mean")), keys.toString());
            assertFalse(keys.contains("head.7.weight"), "the projector's last BN has no affine");
            assertTrue(moco.predictor().stateDict().containsKey("4.running_mean"), "MoCo_ViT's predictor keeps its last BN");
            assertFalse(moco.trainableParameters().containsKey("patch_embed.proj.weight"), "stop-grad-conv1");
            assertTrue(moco.trainableParameters().containsKey("predictor.0.weight"));
            try (NDManager step = root.newSubManager()) {
                MomentumContrast.StepResult r = moco.train(step.randomNormal(new Shape(4, 3, 32, 32)),
                        step.randomNormal(new Shape(4, 3, 32, 32)), 0, optimizer, 1e-4, 0.99);
                assertTrue(Float.isFinite(r.loss()) && r.loss() > 0, "loss " + r.loss());
            }
            assertTrue(optimizer.state().containsKey("blocks.0.attn.qkv.weight.exp_avg"));
        }
    }

    @Test
    void aVitNeedsMocoV3AndAPatchThatDividesTheImage() {
        UserException e = assertThrows(UserException.class,
                () -> ConfigLoader.defaults().preset("moco-v2").set("model.arch=vit_small").build());
        assertTrue(e.getMessage().contains("MoCo v3"), e.getMessage());
        MocoConfig odd = ConfigLoader.defaults().preset("cpu-vit").set("train.image_size=30").build();
        UserException size = assertThrows(UserException.class, () -> Encoders.vitSpec(odd));
        assertTrue(size.getMessage().contains("not divisible by the patch size"), size.getMessage());
    }
}
