package io.moco4j.data.augment;

import io.moco4j.data.ImageDecoder;
import io.moco4j.data.ResizeTooLargeException;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The CPU executor of one {@link ViewSpec}: runs its steps on an 8-bit image with Pillow's arithmetic (as
 * torchvision does on PIL images), then writes the normalised CHW float32 view. Every random choice is drawn
 * from the generator passed to {@link #apply}, in step order, so a view depends only on that generator.
 * Immutable and safe to share between loader threads.
 */
public final class CpuViewTransform implements ViewTransform {

    /** One executable step. */
    interface Step {
        void run(Canvas canvas, RandomGenerator rng);
    }

    private final ViewSpec spec;
    private final List<Step> steps;
    private final float[] table;

    public CpuViewTransform(ViewSpec spec) {
        this.spec = spec;
        this.steps = compile(spec.ops(), spec.size());
        this.table = spec.normalization().table();
    }

    public ViewSpec spec() {
        return spec;
    }

    @Override
    public int height() {
        return spec.size();
    }

    @Override
    public int width() {
        return spec.size();
    }

    @Override
    public void apply(RgbImage image, RandomGenerator rng, float[] out, int offset) {
        applyTimed(image, rng, out, offset, null);
    }

    /** The augmented 8-bit image before normalisation (for tests, previews and debugging). */
    public RgbImage augment(RgbImage image, RandomGenerator rng) {
        Canvas canvas = Canvas.of(image);
        for (Step s : steps) {
            s.run(canvas, rng);
        }
        checkSize(canvas);
        return canvas.toImage();
    }

    /**
     * {@link #apply} that also adds the nanoseconds spent in each top-level step to {@code nanos[i]} and the
     * normalisation to {@code nanos[steps]} (for the benchmark's per-stage breakdown); {@code nanos} may be null.
     */
    public void applyTimed(RgbImage image, RandomGenerator rng, float[] out, int offset, long[] nanos) {
        applyTimed(image, rng, out, offset, nanos, System::nanoTime);
    }

    /** {@link #applyTimed(RgbImage, RandomGenerator, float[], int, long[])} with another clock (e.g. thread CPU time). */
    public void applyTimed(RgbImage image, RandomGenerator rng, float[] out, int offset, long[] nanos,
                           java.util.function.LongSupplier clock) {
        Canvas canvas = Canvas.of(image);
        long t = nanos == null ? 0 : clock.getAsLong();
        for (int i = 0; i < steps.size(); i++) {
            steps.get(i).run(canvas, rng);
            if (nanos != null) {
                long now = clock.getAsLong();
                nanos[i] += now - t;
                t = now;
            }
        }
        checkSize(canvas);
        Normalization.write(canvas.pixels(), canvas.width(), canvas.height(), table, out, offset);
        if (nanos != null) {
            nanos[steps.size()] += clock.getAsLong() - t;
        }
    }

    /** Number of top-level steps (the length of {@code nanos} in {@link #applyTimed} is this plus one). */
    public int stepCount() {
        return steps.size();
    }

    private void checkSize(Canvas canvas) {
        if (canvas.width() != spec.size() || canvas.height() != spec.size()) {
            throw new UserException("an image of " + canvas.width() + "x" + canvas.height() + " px left the augmentation"
                    + " but the view is " + spec.size() + "x" + spec.size()
                    + "; use a recipe that crops to the view size (e.g. random_resized_crop or resize + center_crop)");
        }
    }

    /**
     * Refuses a resize whose output would exceed the pixel limit ({@link ImageDecoder#maxPixels()}), before
     * its buffer is allocated: the decoder's limit bounds the input only, and a thin image grows by the ratio.
     */
    static void checkResizedSize(int width, int height, int shorter) {
        long shortSide = Math.min(width, height);
        long newLong = (long) ((double) ((long) shorter * Math.max(width, height)) / shortSide);
        long limit = ImageDecoder.maxPixels();
        if (newLong * shorter > limit || newLong * shorter * 3 > Integer.MAX_VALUE - 64) {
            long w = width <= height ? shorter : newLong;
            long h = width <= height ? newLong : shorter;
            throw new ResizeTooLargeException(width, height, w, h, shorter, limit);
        }
    }

    private static List<Step> compile(List<OpSpec> ops, int size) {
        List<Step> out = new ArrayList<>();
        for (OpSpec op : ops) {
            out.add(compile(op, size));
        }
        return out;
    }

    private static Step compile(OpSpec op, int size) {
        if (op instanceof OpSpec.RandomResizedCrop c) {
            return (canvas, rng) -> {
                CropBox box = CropBox.sampleRandomResized(canvas.width(), canvas.height(),
                        c.scaleMin(), c.scaleMax(), c.ratioMin(), c.ratioMax(), rng);
                canvas.replace(PilResample.resizedCrop(canvas.toImage(), box.left(), box.top(), box.width(), box.height(),
                        size, size));
            };
        }
        if (op instanceof OpSpec.Resize r) {
            return (canvas, rng) -> {
                checkResizedSize(canvas.width(), canvas.height(), r.shorter());
                int[] wh = GeometryOps.shorterSideSize(canvas.width(), canvas.height(), r.shorter());
                if (wh[0] != canvas.width() || wh[1] != canvas.height()) {
                    canvas.replace(PilResample.resize(canvas.toImage(), wh[0], wh[1]));
                }
            };
        }
        if (op instanceof OpSpec.CenterCrop) {
            return (canvas, rng) -> {
                if (canvas.width() != size || canvas.height() != size) {
                    canvas.replace(GeometryOps.centerCrop(canvas.toImage(), size, size));
                }
            };
        }
        if (op instanceof OpSpec.ColorJitter j) {
            return (canvas, rng) -> JitterParams.sample(j.brightness(), j.contrast(), j.saturation(), j.hue(), rng)
                    .apply(canvas.writable());
        }
        if (op instanceof OpSpec.RandomGrayscale g) {
            return (canvas, rng) -> {
                if (rng.nextDouble() < g.p()) {
                    PilColor.grayscale(canvas.writable());
                }
            };
        }
        if (op instanceof OpSpec.RandomHorizontalFlip f) {
            return (canvas, rng) -> {
                if (rng.nextDouble() < f.p()) {
                    GeometryOps.flipHorizontal(canvas.writable(), canvas.width(), canvas.height());
                }
            };
        }
        if (op instanceof OpSpec.GaussianBlur b) {
            return (canvas, rng) -> {
                double sigma = b.sigmaMin() + (b.sigmaMax() - b.sigmaMin()) * rng.nextDouble();
                PilBlur.gaussianBlur(canvas.writable(), canvas.width(), canvas.height(), (float) sigma);
            };
        }
        if (op instanceof OpSpec.Solarize s) {
            return (canvas, rng) -> PilColor.solarize(canvas.writable(), s.threshold());
        }
        if (op instanceof OpSpec.RandomApply a) {
            List<Step> inner = compile(a.ops(), size);
            return (canvas, rng) -> {
                if (rng.nextDouble() < a.p()) {
                    for (Step s : inner) {
                        s.run(canvas, rng);
                    }
                }
            };
        }
        throw new IllegalArgumentException("no CPU implementation for " + op);
    }
}
