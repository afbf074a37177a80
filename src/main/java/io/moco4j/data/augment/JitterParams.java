package io.moco4j.data.augment;

import java.util.random.RandomGenerator;

/**
 * The parameters torchvision's {@code ColorJitter.get_params} draws: an application order of the four
 * adjustments (0 brightness, 1 contrast, 2 saturation, 3 hue; {@code torch.randperm(4)} there, a
 * Fisher-Yates shuffle of our generator here) and one factor per enabled adjustment. A disabled
 * adjustment (strength 0) has factor {@code NaN} and is skipped, as torchvision's {@code None}.
 */
public record JitterParams(int[] order, double brightness, double contrast, double saturation, double hue) {

    /**
     * Draws the order, then brightness, contrast and saturation factors uniform in
     * [max(0, 1 - x), 1 + x], then the hue factor uniform in [-h, h].
     */
    public static JitterParams sample(double brightness, double contrast, double saturation, double hue,
                                      RandomGenerator rng) {
        int[] order = {0, 1, 2, 3};
        for (int i = 3; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double b = factor(brightness, rng);
        double c = factor(contrast, rng);
        double s = factor(saturation, rng);
        double h = hue == 0 ? Double.NaN : -hue + 2 * hue * rng.nextDouble();
        return new JitterParams(order, b, c, s, h);
    }

    private static double factor(double strength, RandomGenerator rng) {
        if (strength == 0) {
            return Double.NaN;
        }
        double lo = Math.max(0, 1 - strength);
        double hi = 1 + strength;
        return lo + (hi - lo) * rng.nextDouble();
    }

    /** Applies the adjustments in {@link #order()} to HWC RGB bytes in place, with Pillow's arithmetic. */
    public void apply(byte[] rgb) {
        for (int op : order) {
            switch (op) {
                case 0 -> {
                    if (!Double.isNaN(brightness)) {
                        PilColor.brightness(rgb, brightness);
                    }
                }
                case 1 -> {
                    if (!Double.isNaN(contrast)) {
                        PilColor.contrast(rgb, contrast);
                    }
                }
                case 2 -> {
                    if (!Double.isNaN(saturation)) {
                        PilColor.saturation(rgb, saturation);
                    }
                }
                default -> {
                    if (!Double.isNaN(hue)) {
                        PilColor.hue(rgb, hue);
                    }
                }
            }
        }
    }
}
