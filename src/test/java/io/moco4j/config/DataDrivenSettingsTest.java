package io.moco4j.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.DataProfile;
import io.moco4j.data.ImageFolderDataset;
import io.moco4j.method.QueueCoverage;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The settings chosen from generated folders (read through {@link DataProfile}, as {@code pretrain --data DIR} does)
 * and their printed reasons. Expected values follow the rule table of {@link DataDrivenSettings}, worked out by hand
 * in each test.
 */
class DataDrivenSettingsTest {

    /** Writes {@code count} images of {@code w x h} (grey or random colour) as PNG or JPEG into {@code dir}. */
    static void images(Path dir, int count, int w, int h, boolean grey, String format, long seed) throws Exception {
        Files.createDirectories(dir);
        Random r = new Random(seed);
        for (int i = 0; i < count; i++) {
            BufferedImage img = new BufferedImage(w, h, grey ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = r.nextInt(256);
                    img.setRGB(x, y, grey ? (v << 16) | (v << 8) | v : r.nextInt(1 << 24));
                }
            }
            ImageIO.write(img, format, dir.resolve(String.format("%04d.%s", i, format.equals("jpeg") ? "jpg" : format)).toFile());
        }
    }

    static Map<String, String> values(List<DataDrivenSettings.Choice> choices) {
        return choices.stream().collect(Collectors.toMap(DataDrivenSettings.Choice::key, DataDrivenSettings.Choice::value));
    }

    static String reason(List<DataDrivenSettings.Choice> choices, String key) {
        return choices.stream().filter(c -> c.key().equals(key)).findFirst().orElseThrow().reason();
    }

    @Test
    void aFewHundredTinyGreyImagesInClassFolders(@TempDir Path root) throws Exception {
        for (int c = 0; c < 3; c++) {
            images(root.resolve("class" + c), 100, 20, 20, true, "png", c);
        }
        DataProfile p = DataProfile.read(ImageFolderDataset.open(root, false, false));
        assertEquals(300, p.images());
        assertEquals(20, p.typicalShortSide());
        assertTrue(p.grey());
        assertEquals(3, p.classes());

        List<DataDrivenSettings.Choice> choices = DataDrivenSettings.choose(p, QueueCoverage::largestQueue);
        Map<String, String> v = values(choices);
        assertEquals("true", v.get("model.cifar_stem"), "20 px <= 48: CIFAR stem");
        assertEquals("20", v.get("train.image_size"), "views at the images' own 20 px");
        assertEquals("cifar-grey", v.get("train.augment"), "grey and small");
        assertEquals("0.2", v.get("train.crop_min"), "below 32 px the crops keep 20% at least");
        // 300 < 16 x 256, 300 / 16 = 18 -> largest power of two 16 -> at least 32
        assertEquals("32", v.get("train.batch_size"));
        assertEquals("1", v.get("moco.bn_splits"), "32 / 32");
        assertEquals("0.0075", v.get("optim.lr"), "0.06 x 32 / 256");
        // 300 / 32 = 9 steps an epoch: own-key fraction q(q+1)/(2*81) <= 5% allows q = 2 steps -> 64 keys
        assertEquals("64", v.get("moco.queue_size"));
        assertTrue(QueueCoverage.ownKeyFraction(9, 2) <= 0.05 && QueueCoverage.ownKeyFraction(9, 3) > 0.05);
        assertEquals("100", v.get("train.epochs"), "ceil(1000 / 9) = 112, at most 100");
        assertEquals("20", v.get("train.knn_every"));
        assertEquals("true", v.get("train.online_probe"), "labelled: the probe is on");
        assertEquals("0.25", v.get("model.width"));

        String grey = reason(choices, "train.augment");
        assertTrue(grey.contains("grey") && grey.contains("no saturation, hue or grayscale"), grey);
        List<String> lines = DataDrivenSettings.lines(p, choices, Set.of());
        assertTrue(lines.get(0).contains("300 images, typically 20x20 px, grey, 3 classes"), lines.get(0));
        assertEquals(choices.size() + 1, lines.size(), "a header and one line per choice");
        for (int i = 0; i < choices.size(); i++) {
            String line = lines.get(i + 1);
            assertTrue(line.contains(choices.get(i).key()) && line.contains(choices.get(i).reason()), line);
        }
    }

    @Test
    void largeColourPhotosUnlabeled(@TempDir Path root) throws Exception {
        images(root, 40, 320, 240, false, "jpeg", 1);
        DataProfile p = DataProfile.read(ImageFolderDataset.open(root, false, false));
        assertEquals(240, p.typicalShortSide());
        assertEquals(320, p.typicalWidth());
        assertFalse(p.grey());
        assertFalse(p.labeled());

        List<DataDrivenSettings.Choice> choices = DataDrivenSettings.choose(p, QueueCoverage::largestQueue);
        Map<String, String> v = values(choices);
        assertEquals("false", v.get("model.cifar_stem"), "photos get the ImageNet stem");
        assertEquals("128", v.get("train.image_size"), "above 160 px: 128 px views");
        assertEquals("v2", v.get("train.augment"), "colour photos: MoCo v2 aug+");
        assertEquals("0.2", v.get("train.crop_min"));
        assertEquals("false", v.get("train.online_probe"));
        assertTrue(reason(choices, "train.online_probe").contains("unlabeled"));
        assertTrue(reason(choices, "train.augment").contains("colour jitter"));
        // 40 images: 40 / 16 = 2 -> at least 32, which fits in 40: one step an epoch, one batch of keys
        assertEquals("32", v.get("train.batch_size"));
        assertEquals("32", v.get("moco.queue_size"), "never less than one batch");
    }

    @Test
    void cifarSizedColourSetsGetCpuSmallsRecipe() {
        // a profile as CIFAR-10's training folder reads: 50,000 colour 32-px images in 10 classes
        List<DataDrivenSettings.Choice> choices = DataDrivenSettings.choose(new DataProfile(50_000, 32, 32, false, 10, 200, 24), QueueCoverage::largestQueue);
        Map<String, String> v = values(choices);
        assertEquals("32", v.get("train.image_size"));
        assertEquals("cifar", v.get("train.augment"));
        assertEquals("0.08", v.get("train.crop_min"));
        assertEquals("256", v.get("train.batch_size"));
        assertEquals("8", v.get("moco.bn_splits"));
        assertEquals("4096", v.get("moco.queue_size"), "195 steps an epoch: cpu-small's queue is safe");
        assertEquals("15", v.get("train.epochs"), "ceil(1000 / 195) = 6, at least 15");
        assertEquals("0.06", v.get("optim.lr"));
    }

    @Test
    void theUsersOwnSettingsAreLeftAloneAndMarked() {
        DataProfile p = new DataProfile(50_000, 96, 96, true, 0, 200, 24);
        List<DataDrivenSettings.Choice> choices = DataDrivenSettings.choose(p, QueueCoverage::largestQueue);
        assertEquals("v2-grey", values(choices).get("train.augment"), "grey 96 px images");
        assertEquals("96", values(choices).get("train.image_size"));
        Map<String, String> o = DataDrivenSettings.overrides(choices, Set.of("train.epochs"));
        assertFalse(o.containsKey("train.epochs"));
        assertTrue(o.containsKey("train.batch_size"));
        assertTrue(DataDrivenSettings.lines(p, choices, Set.of("train.epochs")).stream()
                .anyMatch(l -> l.contains("train.epochs") && l.contains("yours")));
        // the overrides build a valid configuration on the base preset
        MocoConfig cfg = ConfigLoader.defaults().preset(DataDrivenSettings.BASE).setAll(o).build();
        assertEquals(96, cfg.train().imageSize());
        assertFalse(cfg.model().cifarStem());
    }
}
