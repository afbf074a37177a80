package io.moco4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The MoCo v3 presets carry CONFIG.md's values, and settings meaningless for a version are refused in one line. */
class MocoV3ConfigTest {

    @Test
    void theResNet50RecipesAreConfigMds() {
        MocoConfig r50 = ConfigLoader.defaults().preset("moco-v3-r50").build();
        assertEquals(3, r50.version());
        assertFalse(r50.hasQueue());
        assertEquals("resnet50", r50.model().arch());
        assertTrue(r50.model().zeroInitResidual());
        assertEquals("projector", r50.model().head());
        assertEquals(4096, r50.model().headHidden());
        assertEquals(256, r50.model().dim());
        assertEquals(4096, r50.model().predictorHidden());
        assertEquals(0.99, r50.moco().momentum());
        assertTrue(r50.moco().momentumCosine());
        assertEquals(1.0, r50.moco().temperature());
        assertEquals("lars", r50.optim().name());
        assertEquals(0.6 * 4096 / 256, r50.optim().effectiveLr(r50.train().batchSize()), 1e-12);
        assertEquals(1e-6, r50.optim().weightDecay());
        assertEquals(10, r50.optim().warmupEpochs());
        assertEquals(100, r50.train().epochs());
        assertEquals(4096, r50.train().batchSize());
        assertEquals(0.2, r50.train().cropMin());
        assertEquals("v3", r50.train().augment());

        MocoConfig r300 = ConfigLoader.defaults().preset("moco-v3-r50-300ep").build();
        assertEquals(0.3, r300.optim().lr());
        assertEquals(300, r300.train().epochs());
        assertEquals(1e-6, r300.optim().weightDecay());
        MocoConfig r1000 = ConfigLoader.defaults().preset("moco-v3-r50-1000ep").build();
        assertEquals(0.3, r1000.optim().lr());
        assertEquals(1.5e-6, r1000.optim().weightDecay());
        assertEquals(0.996, r1000.moco().momentum());
        assertEquals(1000, r1000.train().epochs());
    }

    @Test
    void theCifarRecipesFollowSoloLearn() {
        MocoConfig c = ConfigLoader.defaults().preset("cifar10-v3").build();
        assertTrue(c.model().cifarStem());
        assertEquals("resnet18", c.model().arch());
        assertEquals(4096, c.model().headHidden());
        assertEquals(256, c.model().dim());
        assertEquals(0.2, c.moco().temperature());
        assertEquals(256, c.train().batchSize());
        assertEquals("cifar-v3", c.train().augment());
        MocoConfig small = ConfigLoader.defaults().preset("cpu-small-v3").build();
        assertEquals(3, small.version());
        assertEquals(0.25, small.model().width());
        assertEquals(10, small.train().epochs());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "moco-v3-r50 | moco.queue_size=65536 | moco.queue_size",
        "moco-v3-r50 | moco.bn_splits=8 | moco.bn_splits",
        "moco-v3-r50 | moco.shuffle_bn=true | moco.shuffle_bn",
        "moco-v3-r50 | moco.symmetric=true | moco.symmetric",
        "moco-v3-r50 | model.head=mlp | model.head",
        "moco-v3-r50 | model.predictor_hidden=0 | model.predictor_hidden",
        "moco-v2 | model.predictor_hidden=4096 | model.predictor_hidden",
        "moco-v2 | moco.queue_size=0 | moco.queue_size",
        "moco-v2 | moco.version=4 | moco.version",
        "moco-v3-r50 | optim.name=adam | optim.name",
        "moco-v3-r50 | train.crop_min=1.5 | train.crop_min",
    })
    void meaninglessSettingsAreRefusedInOneLineNamingThem(String preset, String setting, String named) {
        UserException e = assertThrows(UserException.class, () -> ConfigLoader.defaults().preset(preset).set(setting).build());
        assertTrue(e.getMessage().startsWith(named) || e.getMessage().contains(named), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
