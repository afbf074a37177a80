package io.moco4j.data.augment;

import java.util.List;

/**
 * One step of a recipe as plain data (parsed from YAML), independent of how it is executed. Output sizes
 * are not stored here: crop steps produce the view's {@link ViewSpec#size()}.
 */
public sealed interface OpSpec {

    /** The YAML key of this step. */
    String key();

    /** torchvision {@code RandomResizedCrop(size, scale, ratio)} with bilinear (PIL) resampling. */
    record RandomResizedCrop(double scaleMin, double scaleMax, double ratioMin, double ratioMax) implements OpSpec {
        public String key() {
            return "random_resized_crop";
        }
    }

    /** torchvision {@code Resize(shorter)}: shorter side to {@code shorter} pixels, bilinear (PIL). */
    record Resize(int shorter) implements OpSpec {
        public String key() {
            return "resize";
        }
    }

    /** torchvision {@code CenterCrop(size)} to the view size. */
    record CenterCrop() implements OpSpec {
        public String key() {
            return "center_crop";
        }
    }

    /** torchvision {@code ColorJitter(brightness, contrast, saturation, hue)} on PIL images. */
    record ColorJitter(double brightness, double contrast, double saturation, double hue) implements OpSpec {
        public String key() {
            return "color_jitter";
        }
    }

    /** torchvision {@code RandomGrayscale(p)} (three output channels). */
    record RandomGrayscale(double p) implements OpSpec {
        public String key() {
            return "random_grayscale";
        }
    }

    /** torchvision {@code RandomHorizontalFlip(p)}. */
    record RandomHorizontalFlip(double p) implements OpSpec {
        public String key() {
            return "random_horizontal_flip";
        }
    }

    /** MoCo v2/v3's {@code GaussianBlur(sigma)}: PIL {@code ImageFilter.GaussianBlur(radius=U[min, max])}. */
    record GaussianBlur(double sigmaMin, double sigmaMax) implements OpSpec {
        public String key() {
            return "gaussian_blur";
        }
    }

    /** MoCo v3's {@code Solarize}: PIL {@code ImageOps.solarize(img, threshold)} (default threshold 128). */
    record Solarize(int threshold) implements OpSpec {
        public String key() {
            return "solarize";
        }
    }

    /** torchvision {@code RandomApply(ops, p)}: runs all {@code ops} with probability {@code p}. */
    record RandomApply(double p, List<OpSpec> ops) implements OpSpec {
        public RandomApply {
            ops = List.copyOf(ops);
        }

        public String key() {
            return "random_apply";
        }
    }
}
