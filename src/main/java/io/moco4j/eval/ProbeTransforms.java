package io.moco4j.eval;

import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.RecipeParser;
import io.moco4j.data.augment.Recipes;

/**
 * The linear probe's and kNN's standard transforms, as main_lincls.py: training views RandomResizedCrop
 * (scale 0.08-1) + horizontal flip; evaluation resize 256 + centre crop 224 (the built-in {@code eval}
 * recipe, scaled for other sizes). At 32 px (CIFAR) the evaluation view is normalisation only
 * ({@code eval32}, as the MoCo CIFAR demo; inputs must already be that size) and the CIFAR statistics are used.
 */
public final class ProbeTransforms {
    private ProbeTransforms() {}

    public static ViewTransform train(int size) {
        String yaml = """
                name: lincls-train
                views:
                  - size: %d
                    ops:
                      - random_resized_crop: {scale: [0.08, 1.0]}
                      - random_horizontal_flip: {p: 0.5}
                    normalize: %s
                """.formatted(size, size <= 32 ? "cifar10" : "imagenet");
        return RecipeParser.parse(yaml, "lincls-train").cpuTransforms().get(0);
    }

    public static ViewTransform eval(int size) {
        if (size <= 32) {
            return Recipes.load("eval32", size).cpuTransforms().get(0);
        }
        return Recipes.load("eval", size).cpuTransforms().get(0);
    }
}
