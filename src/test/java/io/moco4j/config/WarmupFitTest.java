package io.moco4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.util.UserException;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A schedule shorter than its warm-up runs with a shortened warm-up (issue 18); genuinely bad values still fail. */
class WarmupFitTest {

    @Test
    void oneEpochTriesOfWarmupPresetsBuild() {
        // Before: "optim.warmup_epochs is 1 but train.epochs is 1 ..." for both.
        for (String preset : new String[] {"cpu-small-v3", "cpu-vit"}) {
            MocoConfig c = ConfigLoader.defaults().preset(preset).set("train.epochs=1").build();
            assertEquals(1, c.train().epochs(), preset);
            assertEquals(0, c.optim().warmupEpochs(), preset + ": one epoch leaves no room for a warm-up");
        }
    }

    @Test
    void theWarmupBecomesATenthOfTheRunAndAFittingOneIsKept() {
        assertEquals(1, ConfigLoader.defaults().preset("cifar10-v3").set("train.epochs=5").build().optim().warmupEpochs(),
                "10 of 5 epochs: a tenth of 5, rounded half up");
        assertEquals(2, ConfigLoader.defaults().preset("moco-v3-vit-s").set("train.epochs=15").build().optim().warmupEpochs());
        assertEquals(9, WarmupFit.fitted(90, 90), "at most epochs - 1 (here a tenth)");
        assertEquals(0, WarmupFit.fitted(5, 2), "two epochs: a tenth rounds to none");
        assertEquals(1, WarmupFit.fitted(1, 2), "a warm-up that fits is not touched");
        assertEquals(1, ConfigLoader.defaults().preset("cpu-small-v3").build().optim().warmupEpochs(), "1 of 10 fits: kept");
        assertEquals(10, ConfigLoader.defaults().preset("cifar10-v3").set("train.epochs=11").build().optim().warmupEpochs());
    }

    @Test
    void theChangeIsSaidInOneLineAndWrittenIntoTheConfig() {
        ObjectNode tree = new ObjectMapper().createObjectNode();
        tree.putObject("optim").put("warmup_epochs", 10);
        tree.putObject("train").put("epochs", 3);
        Optional<String> line = WarmupFit.apply(tree);
        assertTrue(line.isPresent());
        assertTrue(!line.get().contains("\n") && line.get().contains("10") && line.get().contains("3")
                && line.get().contains("optim.warmup_epochs=0"), line.get());
        assertEquals(0, tree.get("optim").get("warmup_epochs").asInt());
        assertTrue(WarmupFit.apply(tree).isEmpty(), "applied once, nothing left to change");
    }

    @Test
    void badValuesAreStillRefused() {
        assertThrows(UserException.class, () -> ConfigLoader.defaults().preset("cpu-small-v3").set("optim.warmup_epochs=-1").build());
        assertThrows(UserException.class, () -> ConfigLoader.defaults().preset("cpu-small-v3").set("train.epochs=0").build());
    }
}
