package io.moco4j.data.augment;

import io.moco4j.data.RgbImage;

/**
 * Bilinear resizing with Pillow's semantics ({@code Image.resize(size, BILINEAR)}, Pillow 9.x
 * {@code Resample.c}), which torchvision's {@code resize} and {@code resized_crop} use on PIL images.
 *
 * <p>Pillow's "bilinear" is not 2-tap interpolation: the triangle filter's support is stretched by the
 * downscale factor, so downscaling averages over all covered source pixels (antialiasing). It runs as
 * two separable passes (horizontal, then vertical) with 8-bit rounding in between; weights are computed
 * in double, normalised to sum 1, then converted to 22-bit fixed point, and each output is the rounded,
 * clamped fixed-point sum. A pass whose size does not change is skipped, as in Pillow. We reproduce each
 * step, so results match Pillow bit for bit (the golden tests check this).
 */
public final class PilResample {
    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final int HALF = 1 << (PRECISION_BITS - 1);

    private PilResample() {}

    /** Resizes the whole image to {@code outW x outH}. */
    public static RgbImage resize(RgbImage src, int outW, int outH) {
        return resizedCrop(src, 0, 0, src.width(), src.height(), outW, outH);
    }

    /**
     * Crops the box at ({@code left, top}) of size {@code w x h} (inside the image) and resizes it to
     * {@code outW x outH}, like torchvision's {@code F.resized_crop} on a PIL image (crop, then resize of
     * the cropped image) without materialising the crop.
     */
    public static RgbImage resizedCrop(RgbImage src, int left, int top, int w, int h, int outW, int outH) {
        if (left < 0 || top < 0 || w <= 0 || h <= 0 || left + w > src.width() || top + h > src.height()) {
            throw new IllegalArgumentException("crop box " + left + "," + top + " " + w + "x" + h
                    + " is outside the " + src.width() + "x" + src.height() + " image");
        }
        if (outW <= 0 || outH <= 0) {
            throw new IllegalArgumentException("output size must be positive: " + outW + "x" + outH);
        }
        byte[] in = src.pixels();
        int inStride = src.width() * 3;
        boolean horizontal = outW != w;
        boolean vertical = outH != h;
        if (!horizontal && !vertical) {
            return new RgbImage(outW, outH, GeometryOps.cropPixels(src, left, top, w, h));
        }
        Coefficients cx = horizontal ? Coefficients.bilinear(w, outW) : null;
        Coefficients cy = vertical ? Coefficients.bilinear(h, outH) : null;
        if (!vertical) {
            byte[] out = new byte[outW * outH * 3];
            horizontalPass(in, inStride, left, top, outH, cx, out);
            return new RgbImage(outW, outH, out);
        }
        // Only the rows the vertical filter reads need the horizontal pass.
        int firstRow = cy.bounds[0];
        int lastRow = cy.bounds[2 * (outH - 1)] + cy.bounds[2 * (outH - 1) + 1];
        byte[] mid;
        int midStride;
        int midTop;
        int midLeft;
        if (horizontal) {
            mid = new byte[outW * (lastRow - firstRow) * 3];
            horizontalPass(in, inStride, left, top + firstRow, lastRow - firstRow, cx, mid);
            midStride = outW * 3;
            midTop = -firstRow;
            midLeft = 0;
        } else {
            mid = in;
            midStride = inStride;
            midTop = top;
            midLeft = left;
        }
        byte[] out = new byte[outW * outH * 3];
        verticalPass(mid, midStride, midLeft, midTop, outW, cy, out);
        return new RgbImage(outW, outH, out);
    }

    private static void horizontalPass(byte[] in, int inStride, int left, int top, int rows, Coefficients c, byte[] out) {
        int outW = c.outSize;
        int ksize = c.ksize;
        int[] k = c.weights;
        int[] bounds = c.bounds;
        int o = 0;
        for (int y = 0; y < rows; y++) {
            int rowStart = (top + y) * inStride;
            for (int xx = 0; xx < outW; xx++) {
                int p = rowStart + (left + bounds[2 * xx]) * 3;
                int n = bounds[2 * xx + 1];
                int kk = xx * ksize;
                int s0 = HALF;
                int s1 = HALF;
                int s2 = HALF;
                for (int x = 0; x < n; x++, p += 3) {
                    int wgt = k[kk + x];
                    s0 += (in[p] & 0xff) * wgt;
                    s1 += (in[p + 1] & 0xff) * wgt;
                    s2 += (in[p + 2] & 0xff) * wgt;
                }
                out[o++] = clip8(s0);
                out[o++] = clip8(s1);
                out[o++] = clip8(s2);
            }
        }
    }

    /** {@code midTop} is the row in {@code in} that corresponds to source row 0 of the filter's coordinates. */
    private static void verticalPass(byte[] in, int inStride, int left, int midTop, int outW, Coefficients c, byte[] out) {
        int n3 = outW * 3;
        int[] acc = new int[n3];
        int[] k = c.weights;
        for (int yy = 0; yy < c.outSize; yy++) {
            java.util.Arrays.fill(acc, HALF);
            int ymin = c.bounds[2 * yy];
            int n = c.bounds[2 * yy + 1];
            int kk = yy * c.ksize;
            for (int y = 0; y < n; y++) {
                int wgt = k[kk + y];
                int p = (midTop + ymin + y) * inStride + left * 3;
                for (int i = 0; i < n3; i++) {
                    acc[i] += (in[p + i] & 0xff) * wgt;
                }
            }
            int o = yy * n3;
            for (int i = 0; i < n3; i++) {
                out[o + i] = clip8(acc[i]);
            }
        }
    }

    private static byte clip8(int fixed) {
        int v = fixed >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** Per output pixel: first source index, tap count and fixed-point weights of the stretched triangle filter. */
    static final class Coefficients {
        final int outSize;
        final int ksize;
        final int[] bounds;
        final int[] weights;

        private Coefficients(int outSize, int ksize, int[] bounds, int[] weights) {
            this.outSize = outSize;
            this.ksize = ksize;
            this.bounds = bounds;
            this.weights = weights;
        }

        /** Pillow's {@code precompute_coeffs} for the box [0, inSize) and the bilinear (triangle) filter. */
        static Coefficients bilinear(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = 1.0 * filterScale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] bounds = new int[outSize * 2];
            int[] weights = new int[outSize * ksize];
            double[] w = new double[ksize];
            double invScale = 1.0 / filterScale;
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) {
                    xmin = 0;
                }
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) {
                    xmax = inSize;
                }
                xmax -= xmin;
                double total = 0.0;
                for (int x = 0; x < xmax; x++) {
                    w[x] = triangle((x + xmin - center + 0.5) * invScale);
                    total += w[x];
                }
                for (int x = 0; x < xmax; x++) {
                    double v = total != 0.0 ? w[x] / total : w[x];
                    weights[xx * ksize + x] = v < 0
                            ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                            : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[2 * xx] = xmin;
                bounds[2 * xx + 1] = xmax;
            }
            return new Coefficients(outSize, ksize, bounds, weights);
        }

        private static double triangle(double x) {
            double a = Math.abs(x);
            return a < 1.0 ? 1.0 - a : 0.0;
        }
    }
}
