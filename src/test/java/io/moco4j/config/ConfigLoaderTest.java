package io.moco4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    @Test
    void theBuiltinPresetIsCpuSmallWithAShorterQueue() {
        MocoConfig small = ConfigLoader.defaults().preset("cpu-small").build();
        MocoConfig builtin = ConfigLoader.defaults().preset("builtin").build();
        assertEquals(4096, small.moco().queueSize());
        assertEquals(1024, builtin.moco().queueSize());
        assertEquals(small.model(), builtin.model(), "everything but the queue comes from its base, cpu-small");
        assertEquals(small.optim(), builtin.optim());
        assertEquals(small.train(), builtin.train());
        assertEquals(small.moco().momentum(), builtin.moco().momentum());
        assertFalse(ConfigLoader.toYaml(builtin).contains("base"), "the base key is not a setting");
    }

    @Test
    void presetsCarryThePapersValues() {
        MocoConfig v1 = ConfigLoader.defaults().preset("moco-v1").build();
        assertEquals("resnet50", v1.model().arch());
        assertEquals("linear", v1.model().head());
        assertEquals(65536, v1.moco().queueSize());
        assertEquals(0.999, v1.moco().momentum());
        assertEquals(0.07, v1.moco().temperature());
        assertEquals(0.03, v1.optim().lr());
        assertEquals(1e-4, v1.optim().weightDecay());
        assertEquals("step", v1.optim().schedule());
        assertEquals(List.of(120, 160), v1.optim().milestones());
        assertEquals(200, v1.train().epochs());
        assertEquals(256, v1.train().batchSize());
        assertEquals("v1", v1.train().augment());

        MocoConfig v2 = ConfigLoader.defaults().preset("moco-v2").build();
        assertEquals("mlp", v2.model().head());
        assertEquals(2048, v2.model().headHidden());
        assertEquals(0.2, v2.moco().temperature());
        assertEquals("cosine", v2.optim().schedule());
        assertEquals("v2", v2.train().augment());

        MocoConfig demo = ConfigLoader.defaults().preset("cifar10-demo").build();
        assertTrue(demo.model().cifarStem());
        assertEquals("resnet18", demo.model().arch());
        assertEquals(4096, demo.moco().queueSize());
        assertEquals(0.99, demo.moco().momentum());
        assertEquals(0.1, demo.moco().temperature());
        assertEquals(512, demo.train().batchSize());
        assertEquals(0.06, demo.optim().lr());
        assertEquals(5e-4, demo.optim().weightDecay());
        assertEquals(8, demo.moco().bnSplits());
        assertEquals("cifar", demo.train().augment());
    }

    @Test
    void layersApplyInOrder(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("my.yaml");
        Files.writeString(file, "optim:\n  lr: 0.5\ntrain:\n  epochs: 7\n");
        MocoConfig c = ConfigLoader.defaults().preset("cpu-small").file(file)
                .set("train.epochs=3").set("optim.milestones=[2, 3]").set("model.head=mlp").build();
        assertEquals(0.5, c.optim().lr());
        assertEquals(3, c.train().epochs());
        assertEquals(List.of(2, 3), c.optim().milestones());
        assertEquals("mlp", c.model().head());
        assertEquals(0.25, c.model().width(), "preset value kept where nothing overrides it");
    }

    @Test
    void yamlRoundTrips() {
        MocoConfig c = ConfigLoader.defaults().preset("moco-v2").set("train.seed=42").build();
        assertEquals(c, ConfigLoader.fromYaml(ConfigLoader.toYaml(c)));
    }

    @Test
    void queueMustBeAMultipleOfTheBatch() {
        UserException e = assertThrows(UserException.class,
                () -> ConfigLoader.defaults().preset("cpu-small").set("train.batch_size=100").build());
        assertTrue(e.getMessage().contains("moco.queue_size 4096 is not a multiple of train.batch_size 100"), e.getMessage());
        assertTrue(e.getMessage().contains("4100"), "suggests the next multiple: " + e.getMessage());
    }

    @Test
    void badValuesNameTheKeyAndTheFix() {
        assertMessage("unknown setting 'optim.lrr'", () -> ConfigLoader.defaults().set("optim.lrr=1").build());
        assertMessage("unknown setting 'model.depth'", () -> ConfigLoader.defaults().set("model.depth=1"));
        assertMessage("optim.lr is 'fast'; it must be a number in (0, 1000]", () -> ConfigLoader.defaults().set("optim.lr=fast").build());
        assertMessage("model.arch is 'resnet9'; choose one of resnet18, resnet34, resnet50",
                () -> ConfigLoader.defaults().set("model.arch=resnet9").build());
        assertMessage("moco.momentum is 1.5", () -> ConfigLoader.defaults().set("moco.momentum=1.5").build());
        assertMessage("unknown preset 'moco-v9'", () -> ConfigLoader.defaults().preset("moco-v9"));
        assertMessage("must look like section.key=value", () -> ConfigLoader.defaults().set("lr"));
        assertMessage("not divisible by moco.bn_splits", () -> ConfigLoader.defaults().set("moco.bn_splits=3").build());
    }

    @Test
    void badFilesAreClearErrors(@TempDir Path dir) throws Exception {
        assertMessage("does not exist", () -> ConfigLoader.defaults().file(dir.resolve("nope.yaml")));
        Path broken = dir.resolve("broken.yaml");
        Files.writeString(broken, "optim: [lr: 1\n");
        assertMessage("is not valid YAML", () -> ConfigLoader.defaults().file(broken));
        Path unknown = dir.resolve("unknown.yaml");
        Files.writeString(unknown, "trian:\n  epochs: 3\n");
        assertMessage("unknown setting 'trian'", () -> ConfigLoader.defaults().file(unknown));
    }

    private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable body) {
        UserException e = assertThrows(UserException.class, body);
        assertTrue(e.getMessage().contains(expected), () -> "message was: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }
}
