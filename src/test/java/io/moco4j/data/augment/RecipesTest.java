package io.moco4j.data.augment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.RgbImage;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The built-in recipes encode the official pipelines (expectations transcribed from the reference code). */
class RecipesTest {
    private static final OpSpec.ColorJitter V2_JITTER = new OpSpec.ColorJitter(0.4, 0.4, 0.4, 0.1);
    private static final double[] RATIO = {3.0 / 4.0, 4.0 / 3.0};

    private static OpSpec.RandomResizedCrop crop(double min) {
        return new OpSpec.RandomResizedCrop(min, 1.0, RATIO[0], RATIO[1]);
    }

    @Test
    void v1IsInstDiscWithGrayscaleBeforeJitter() {
        Recipe r = Recipes.load("v1", null);
        assertEquals(2, r.viewCount());
        List<OpSpec> want = List.of(crop(0.2), new OpSpec.RandomGrayscale(0.2), new OpSpec.ColorJitter(0.4, 0.4, 0.4, 0.4),
                new OpSpec.RandomHorizontalFlip(0.5));
        for (ViewSpec v : r.views()) {
            assertEquals(want, v.ops());
            assertEquals(224, v.size());
            assertEquals(Normalization.IMAGENET, v.normalization());
        }
    }

    @Test
    void v2IsAugPlus() {
        Recipe r = Recipes.load("v2", null);
        assertEquals(2, r.viewCount());
        List<OpSpec> want = List.of(crop(0.2), new OpSpec.RandomApply(0.8, List.of(V2_JITTER)), new OpSpec.RandomGrayscale(0.2),
                new OpSpec.RandomApply(0.5, List.of(new OpSpec.GaussianBlur(0.1, 2.0))), new OpSpec.RandomHorizontalFlip(0.5));
        assertEquals(want, r.view(0).ops());
        assertEquals(want, r.view(1).ops());
    }

    @Test
    void v3IsAsymmetric() {
        Recipe r = Recipes.load("v3", null);
        OpSpec jitter = new OpSpec.RandomApply(0.8, List.of(new OpSpec.ColorJitter(0.4, 0.4, 0.2, 0.1)));
        OpSpec blur = new OpSpec.GaussianBlur(0.1, 2.0);
        assertEquals(List.of(crop(0.08), jitter, new OpSpec.RandomGrayscale(0.2), new OpSpec.RandomApply(1.0, List.of(blur)),
                new OpSpec.RandomHorizontalFlip(0.5)), r.view(0).ops());
        assertEquals(List.of(crop(0.08), jitter, new OpSpec.RandomGrayscale(0.2), new OpSpec.RandomApply(0.1, List.of(blur)),
                new OpSpec.RandomApply(0.2, List.of(new OpSpec.Solarize(128))), new OpSpec.RandomHorizontalFlip(0.5)), r.view(1).ops());
    }

    @Test
    void cropMinReplacesEveryCropsLowerScaleOnly() {
        Recipe r = Recipes.load("v3", null).withCropMin(0.2);
        for (int v = 0; v < 2; v++) {
            assertEquals(crop(0.2), r.view(v).ops().get(0), "moco-v3's --crop-min .2 for ResNet");
            assertEquals(Recipes.load("v3", null).view(v).ops().subList(1, r.view(v).ops().size()),
                    r.view(v).ops().subList(1, r.view(v).ops().size()), "nothing else changes");
        }
        assertThrows(IllegalArgumentException.class, () -> Recipes.load("v3", null).withCropMin(1.0));
    }

    @Test
    void cifarV3IsSoloLearnsAsymmetricCifarRecipe() {
        Recipe r = Recipes.load("cifar-v3", null);
        OpSpec jitter = new OpSpec.RandomApply(0.8, List.of(new OpSpec.ColorJitter(0.4, 0.4, 0.2, 0.1)));
        assertEquals(List.of(crop(0.08), jitter, new OpSpec.RandomGrayscale(0.2), new OpSpec.RandomHorizontalFlip(0.5)),
                r.view(0).ops());
        assertEquals(List.of(crop(0.08), jitter, new OpSpec.RandomGrayscale(0.2),
                new OpSpec.RandomApply(0.2, List.of(new OpSpec.Solarize(128))), new OpSpec.RandomHorizontalFlip(0.5)),
                r.view(1).ops());
        assertEquals(32, r.view(1).size());
    }

    @Test
    void cifarFollowsTheOfficialDemo() {
        Recipe r = Recipes.load("cifar", null);
        assertEquals(2, r.viewCount());
        assertEquals(List.of(crop(0.08), new OpSpec.RandomHorizontalFlip(0.5), new OpSpec.RandomApply(0.8, List.of(V2_JITTER)),
                new OpSpec.RandomGrayscale(0.2)), r.view(0).ops());
        assertEquals(32, r.view(0).size());
        Normalization demo = new Normalization(new double[] {0.4914, 0.4822, 0.4465}, new double[] {0.2023, 0.1994, 0.2010});
        assertEquals(demo, r.view(0).normalization());
        assertEquals(demo, Recipes.load("eval32", null).view(0).normalization());
        assertEquals(List.of(new OpSpec.Resize(32), new OpSpec.CenterCrop()), Recipes.load("eval32", null).view(0).ops());
    }

    @Test
    void evalResizesThenCentreCropsAndScalesWithTheSizeOverride() {
        Recipe r = Recipes.load("eval", null);
        assertEquals(List.of(new OpSpec.Resize(256), new OpSpec.CenterCrop()), r.view(0).ops());
        Recipe small = Recipes.load("eval", 32);
        assertEquals(List.of(new OpSpec.Resize(37), new OpSpec.CenterCrop()), small.view(0).ops()); // 256 * 32 / 224 = 36.6
        assertEquals(32, small.view(0).size());
        // 300x400 -> shorter side 37 (37x49) -> centre 32x32
        RgbImage img = new RgbImage(300, 400, new byte[300 * 400 * 3]);
        RgbImage out = new CpuViewTransform(small.view(0)).augment(img, new SplittableRandom(0));
        assertEquals(32, out.width());
        assertEquals(32, out.height());
    }

    @Test
    void sizeOverrideChangesEveryViewAndTheOutput() {
        for (String name : Recipes.BUILT_IN) {
            Recipe r = Recipes.load(name, 64);
            for (ViewSpec v : r.views()) {
                assertEquals(64, v.size(), name);
            }
        }
        CpuViewTransform t = (CpuViewTransform) Recipes.load("v3", 64).cpuTransforms().get(1);
        RgbImage out = t.augment(CpuViewTransformTest.testImage(), new SplittableRandom(1));
        assertEquals(64, out.width());
        assertEquals(64, out.height());
    }

    @Test
    void badNamesAndValuesGiveOneLineUserErrors() {
        UserException e = assertThrows(UserException.class, () -> Recipes.load("v4", null));
        assertTrue(e.getMessage().contains("v1, v2, v3, cifar, cifar-v3, eval, eval32"), e.getMessage());
        assertThrows(UserException.class, () -> Recipes.load("v2", 0));
        assertThrows(UserException.class, () -> Recipes.load("/nonexistent/recipe.yaml", null));
        String base = "name: x\nviews:\n  - size: 8\n    normalize: imagenet\n    ops:\n      - ";
        String[][] bad = {
            {"random_grayscale: {p: 1.5}", "views[0].ops[0].random_grayscale.p must be in [0.0, 1.0]"},
            {"color_jitter: {hue: 0.7}", "hue must be in [0.0, 0.5]"},
            {"blur: {}", "unknown step 'blur'; valid steps: random_resized_crop, resize"},
            {"random_resized_crop: {scale: [0.9, 0.2]}", "low <= high"},
            {"random_horizontal_flip: {q: 0.5}", "unknown key 'q'; valid keys: p"},
            {"random_apply: {ops: []}", "is missing 'p'"},
        };
        for (String[] b : bad) {
            UserException ex = assertThrows(UserException.class, () -> RecipeParser.parse(base + b[0] + "\n", "test"), b[0]);
            assertTrue(ex.getMessage().contains(b[1]), ex.getMessage());
            assertEquals(1, ex.getMessage().lines().count(), ex.getMessage());
        }
        UserException norm = assertThrows(UserException.class,
                () -> RecipeParser.parse("name: x\nviews:\n  - size: 8\n    ops: []\n    normalize: imagenett\n", "t"));
        assertTrue(norm.getMessage().contains("cifar10, imagenet"), norm.getMessage());
        assertThrows(UserException.class, () -> RecipeParser.parse("views: [", "t"));
    }

    @Test
    void loadsAUserYamlFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("mine.yaml");
        Files.writeString(f, """
                name: mine
                views:
                  - repeat: 3
                    size: 16
                    ops:
                      - random_resized_crop: {scale: [0.5, 1.0], ratio: [1.0, 1.0]}
                      - solarize: {threshold: 200}
                    normalize: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
                """);
        Recipe r = Recipes.load(f.toString(), null);
        assertEquals("mine", r.name());
        assertEquals(3, r.viewCount());
        assertEquals(List.of(new OpSpec.RandomResizedCrop(0.5, 1.0, 1.0, 1.0), new OpSpec.Solarize(200)), r.view(2).ops());
        assertArrayEquals(new double[] {0.25, 0.25, 0.25}, r.view(0).normalization().std());
        assertEquals(24, Recipes.load(f.toString(), 24).view(0).size());
    }
}
