package io.moco4j.data.augment;

import java.util.random.RandomGenerator;

/** A crop rectangle in image pixels: rows [top, top + height), columns [left, left + width). */
public record CropBox(int top, int left, int height, int width) {

    private static final int TRIES = 10;

    /**
     * torchvision's {@code RandomResizedCrop.get_params}: up to 10 tries of an area fraction uniform in
     * [scaleMin, scaleMax] and an aspect ratio log-uniform in [ratioMin, ratioMax], side lengths rounded
     * half to even (Python's {@code round}); the first box that fits is placed uniformly. Otherwise the
     * centred, largest box whose aspect ratio is clamped to the ratio range.
     */
    public static CropBox sampleRandomResized(int width, int height, double scaleMin, double scaleMax,
                                              double ratioMin, double ratioMax, RandomGenerator rng) {
        double area = (double) height * width;
        double logMin = Math.log(ratioMin);
        double logMax = Math.log(ratioMax);
        for (int attempt = 0; attempt < TRIES; attempt++) {
            double targetArea = area * (scaleMin + (scaleMax - scaleMin) * rng.nextDouble());
            double aspect = Math.exp(logMin + (logMax - logMin) * rng.nextDouble());
            int w = (int) Math.rint(Math.sqrt(targetArea * aspect));
            int h = (int) Math.rint(Math.sqrt(targetArea / aspect));
            if (0 < w && w <= width && 0 < h && h <= height) {
                int top = rng.nextInt(height - h + 1);
                int left = rng.nextInt(width - w + 1);
                return new CropBox(top, left, h, w);
            }
        }
        return fallback(width, height, ratioMin, ratioMax);
    }

    /** torchvision's fallback: the whole image, cut to the nearest allowed aspect ratio and centred. */
    public static CropBox fallback(int width, int height, double ratioMin, double ratioMax) {
        double inRatio = (double) width / height;
        int w;
        int h;
        if (inRatio < ratioMin) {
            w = width;
            h = (int) Math.rint(w / ratioMin);
        } else if (inRatio > ratioMax) {
            h = height;
            w = (int) Math.rint(h * ratioMax);
        } else {
            w = width;
            h = height;
        }
        return new CropBox((height - h) / 2, (width - w) / 2, h, w);
    }
}
