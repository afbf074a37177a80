package io.moco4j.api;

import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.CpuViewTransform;
import io.moco4j.data.augment.Normalization;
import io.moco4j.data.augment.OpSpec;
import io.moco4j.data.augment.ViewSpec;
import io.moco4j.train.TrainingData;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The evaluation transform a checkpoint is scored with ({@link TrainingData#evalTransform}), made total: at CIFAR
 * sizes that transform is normalisation only and refuses images of another size, so such images are first resized
 * (shorter side) and centre-cropped to the view size with the same normalisation. Images of the expected size
 * take exactly the evaluation path.
 */
final class EvalPreprocessing implements ViewTransform {
    /** Mean 0 and std 1: {@code (v / 255 - 0) / 1} is exactly {@code v / 255}. */
    private static final Normalization UNIT = new Normalization(new double[] {0, 0, 0}, new double[] {1, 1, 1});

    private final ViewTransform exact;
    private final ViewTransform fitted;
    private final int size;

    private EvalPreprocessing(ViewTransform exact, ViewTransform fitted, int size) {
        this.exact = exact;
        this.fitted = fitted;
        this.size = size;
    }

    static ViewTransform forSize(int size) {
        return forSize(size, true);
    }

    /**
     * As {@link #forSize(int)}; with {@code normalize} false the output is torchvision's {@code ToTensor()} alone
     * ({@code v / 255}), for a model that normalises inside its graph ({@code export --format onnx --normalize-in-graph}).
     */
    static ViewTransform forSize(int size, boolean normalize) {
        ViewTransform exact = TrainingData.evalTransform(size);
        if (!normalize && exact instanceof CpuViewTransform cpu) {
            exact = new CpuViewTransform(new ViewSpec(cpu.spec().size(), cpu.spec().ops(), UNIT));
        }
        if (exact instanceof CpuViewTransform cpu && cpu.spec().ops().isEmpty()) {
            ViewSpec fit = new ViewSpec(size, List.of(new OpSpec.Resize(size), new OpSpec.CenterCrop()), cpu.spec().normalization());
            return new EvalPreprocessing(exact, new CpuViewTransform(fit), size);
        }
        return exact; // it resizes and crops by itself
    }

    @Override
    public int height() {
        return exact.height();
    }

    @Override
    public int width() {
        return exact.width();
    }

    @Override
    public void apply(RgbImage image, RandomGenerator rng, float[] out, int offset) {
        boolean fits = image.width() == size && image.height() == size;
        (fits ? exact : fitted).apply(image, rng, out, offset);
    }
}
