package io.moco4j.eval;

import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.RecipeParser;
import io.moco4j.data.augment.CpuViewTransform;
import io.moco4j.data.augment.OpSpec;
import io.moco4j.data.augment.Recipes;
import io.moco4j.data.augment.ViewSpec;
import java.util.Locale;

/**
 * The linear probe's and kNN's standard transforms, as main_lincls.py: training views RandomResizedCrop
 * (scale 0.08-1) + horizontal flip; evaluation resize 256 + centre crop 224 (the built-in {@code eval}
 * recipe, scaled for other sizes). At 32 px (CIFAR) the evaluation view is resize 32 + centre crop 32
 * ({@code eval32}: on 32-px inputs both are no-ops, as the MoCo CIFAR demo's normalisation only) and the CIFAR
 * statistics are used. Either way any image size and aspect ratio is accepted, as torchvision's eval transforms.
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

    /**
     * One line saying how an evaluation transform sizes images, for the commands' output, e.g.
     * "evaluation view 32x32: shorter side resized to 32 px (bilinear), centre crop (torchvision Resize + CenterCrop)".
     */
    public static String describe(ViewTransform transform) {
        if (!(transform instanceof CpuViewTransform cpu)) {
            return "evaluation view " + transform.width() + "x" + transform.height();
        }
        ViewSpec spec = cpu.spec();
        StringBuilder steps = new StringBuilder();
        for (OpSpec op : spec.ops()) {
            if (steps.length() > 0) {
                steps.append(", ");
            }
            if (op instanceof OpSpec.Resize r) {
                steps.append("shorter side resized to ").append(r.shorter()).append(" px (bilinear)");
            } else if (op instanceof OpSpec.CenterCrop) {
                steps.append("centre crop");
            } else {
                steps.append(op.key());
            }
        }
        return String.format(Locale.ROOT, "evaluation view %dx%d: %s (torchvision Resize + CenterCrop; any image size or aspect ratio)",
                spec.size(), spec.size(), steps.length() == 0 ? "normalisation only" : steps);
    }
}
