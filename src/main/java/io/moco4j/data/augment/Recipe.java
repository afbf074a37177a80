package io.moco4j.data.augment;

import io.moco4j.data.ViewTransform;
import java.util.ArrayList;
import java.util.List;

/**
 * An augmentation recipe as data: a name and one {@link ViewSpec} per view the loader produces for each
 * image (two for MoCo pre-training, one for evaluation). Recipes come from YAML ({@link Recipes}).
 *
 * <p>The recipe says <em>what</em> to do; executors decide <em>how</em>. {@link #cpuTransforms()} builds the
 * CPU executor ({@link CpuViewTransform}, per image on 8-bit images with PIL's arithmetic, in the loader
 * threads). A batched executor on the training device can be added beside it without touching recipes:
 * draw every image's parameters on the loader side with the same samplers ({@link CropBox},
 * {@link JitterParams}, the per-op probabilities, in recipe order) so results still depend only on the
 * per-sample generator; ship the decoded images plus those parameters; then run each step as a batched
 * tensor op (crop-and-resize as a gather/interpolate per box, jitter as masked per-image blends, blur as
 * per-image separable convolutions) in float instead of 8-bit. It would be statistically equivalent but
 * not bit-identical to PIL, so it would need its own golden tolerances.
 */
public record Recipe(String name, List<ViewSpec> views) {
    public Recipe {
        if (views.isEmpty()) {
            throw new IllegalArgumentException("recipe " + name + " has no views");
        }
        views = List.copyOf(views);
    }

    public int viewCount() {
        return views.size();
    }

    public ViewSpec view(int i) {
        return views.get(i);
    }

    /** The CPU executor of each view, in view order. */
    public List<ViewTransform> cpuTransforms() {
        List<ViewTransform> out = new ArrayList<>();
        for (ViewSpec v : views) {
            out.add(new CpuViewTransform(v));
        }
        return out;
    }

    /**
     * This recipe at another output size: every view's size becomes {@code size} and each {@code resize}
     * step scales with it ({@code round(shorter * size / viewSize)}, e.g. 256 at 224 becomes 37 at 32), so
     * the evaluation crop keeps its 224/256 ratio.
     */
    public Recipe withSize(int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("size must be positive, got " + size);
        }
        List<ViewSpec> out = new ArrayList<>();
        for (ViewSpec v : views) {
            out.add(new ViewSpec(size, rescale(v.ops(), (double) size / v.size()), v.normalization()));
        }
        return new Recipe(name, out);
    }

    /**
     * This recipe with every random-resized-crop's lower scale bound set to {@code cropMin} (moco-v3's
     * {@code --crop-min}: 0.2 for ResNet, 0.08 for ViT); other steps are unchanged.
     */
    public Recipe withCropMin(double cropMin) {
        if (!(cropMin > 0 && cropMin < 1)) {
            throw new IllegalArgumentException("crop minimum must be in (0, 1), got " + cropMin);
        }
        List<ViewSpec> out = new ArrayList<>();
        for (ViewSpec v : views) {
            out.add(new ViewSpec(v.size(), withCropMin(v.ops(), cropMin), v.normalization()));
        }
        return new Recipe(name, out);
    }

    private static List<OpSpec> withCropMin(List<OpSpec> ops, double cropMin) {
        List<OpSpec> out = new ArrayList<>();
        for (OpSpec op : ops) {
            if (op instanceof OpSpec.RandomResizedCrop c) {
                out.add(new OpSpec.RandomResizedCrop(cropMin, c.scaleMax(), c.ratioMin(), c.ratioMax()));
            } else if (op instanceof OpSpec.RandomApply ra) {
                out.add(new OpSpec.RandomApply(ra.p(), withCropMin(ra.ops(), cropMin)));
            } else {
                out.add(op);
            }
        }
        return out;
    }

    private static List<OpSpec> rescale(List<OpSpec> ops, double factor) {
        List<OpSpec> out = new ArrayList<>();
        for (OpSpec op : ops) {
            if (op instanceof OpSpec.Resize r) {
                out.add(new OpSpec.Resize(Math.max(1, (int) Math.round(r.shorter() * factor))));
            } else if (op instanceof OpSpec.RandomApply ra) {
                out.add(new OpSpec.RandomApply(ra.p(), rescale(ra.ops(), factor)));
            } else {
                out.add(op);
            }
        }
        return out;
    }
}
