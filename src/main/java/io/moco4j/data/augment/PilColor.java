package io.moco4j.data.augment;

/**
 * Pixel colour operations with the exact arithmetic of Pillow 9.x, as torchvision 0.14 applies them to PIL
 * images. All work in place on HWC RGB bytes.
 *
 * <ul>
 *   <li>brightness / contrast / saturation are {@code ImageEnhance} blends {@code Image.blend(degenerate, img, f)}:
 *       {@code out = (uint8)(d + f * (v - d))} in float32 with truncation, clamped to [0, 255] only when
 *       {@code f} is outside [0, 1] (Pillow's {@code Blend.c}). The degenerate image is black (brightness), the
 *       rounded mean of the 'L' image (contrast) or the 'L' image itself (saturation).</li>
 *   <li>'L' is Pillow's fixed-point ITU-R 601-2 luma {@code (19595 R + 38470 G + 7471 B + 0x8000) >> 16}.</li>
 *   <li>hue converts to Pillow's 8-bit HSV, adds {@code uint8(hue * 255)} to H modulo 256 (torchvision's numpy
 *       trick) and converts back, mirroring the float/double mix of Pillow's {@code Convert.c}.</li>
 * </ul>
 */
public final class PilColor {
    private PilColor() {}

    /** Pillow's luma ('RGB' to 'L' conversion). */
    public static int luma(int r, int g, int b) {
        return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }

    /** One value of {@code Image.blend(degenerate, image, alpha)}: {@code d} from the degenerate, {@code v} from the image. */
    public static int blend(int d, int v, float alpha) {
        if (alpha == 0.0f) {
            return d;
        }
        if (alpha == 1.0f) {
            return v;
        }
        float t = d + alpha * (v - d);
        if (alpha >= 0 && alpha <= 1.0f) {
            return (int) t;
        }
        if (t <= 0.0f) {
            return 0;
        }
        if (t >= 255.0f) {
            return 255;
        }
        return (int) t;
    }

    /** torchvision {@code adjust_brightness}: blend with black. */
    public static void brightness(byte[] rgb, double factor) {
        applyLut(rgb, blendLut(0, (float) factor));
    }

    /** torchvision {@code adjust_contrast}: blend with the grey level {@code int(mean(L) + 0.5)}. */
    public static void contrast(byte[] rgb, double factor) {
        long sum = 0;
        for (int i = 0; i < rgb.length; i += 3) {
            sum += luma(rgb[i] & 0xff, rgb[i + 1] & 0xff, rgb[i + 2] & 0xff);
        }
        int pixels = rgb.length / 3;
        int mean = (int) ((double) sum / pixels + 0.5);
        applyLut(rgb, blendLut(mean, (float) factor));
    }

    /** torchvision {@code adjust_saturation}: per-pixel blend with the pixel's luma. */
    public static void saturation(byte[] rgb, double factor) {
        float alpha = (float) factor;
        if (alpha == 1.0f) {
            return;
        }
        for (int i = 0; i < rgb.length; i += 3) {
            int r = rgb[i] & 0xff;
            int g = rgb[i + 1] & 0xff;
            int b = rgb[i + 2] & 0xff;
            int l = luma(r, g, b);
            rgb[i] = (byte) blend(l, r, alpha);
            rgb[i + 1] = (byte) blend(l, g, alpha);
            rgb[i + 2] = (byte) blend(l, b, alpha);
        }
    }

    /** The 8-bit hue offset torchvision adds: {@code np.uint8(hue_factor * 255)} (truncation, then modulo 256). */
    public static int hueShift(double hueFactor) {
        return ((int) (hueFactor * 255)) & 0xff;
    }

    /** torchvision {@code adjust_hue} on a PIL RGB image ({@code hueFactor} in [-0.5, 0.5]). */
    public static void hue(byte[] rgb, double hueFactor) {
        if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) {
            throw new IllegalArgumentException("hue factor " + hueFactor + " is not in [-0.5, 0.5]");
        }
        int shift = hueShift(hueFactor);
        for (int i = 0; i < rgb.length; i += 3) {
            int r = rgb[i] & 0xff;
            int g = rgb[i + 1] & 0xff;
            int b = rgb[i + 2] & 0xff;
            int max = Math.max(r, Math.max(g, b));
            int min = Math.min(r, Math.min(g, b));
            if (max == min) {
                // Grey: H = S = 0 and HSV->RGB with S = 0 gives (V, V, V) whatever H is.
                continue;
            }
            int hsv = rgbToHsv(r, g, b);
            int h = ((hsv >> 16) + shift) & 0xff;
            int s = (hsv >> 8) & 0xff;
            int v = hsv & 0xff;
            int out = hsvToRgb(h, s, v);
            rgb[i] = (byte) (out >> 16);
            rgb[i + 1] = (byte) (out >> 8);
            rgb[i + 2] = (byte) out;
        }
    }

    /** Pillow's {@code rgb2hsv_row}; returns {@code H << 16 | S << 8 | V}. */
    static int rgbToHsv(int r, int g, int b) {
        int maxc = Math.max(r, Math.max(g, b));
        int minc = Math.min(r, Math.min(g, b));
        if (minc == maxc) {
            return maxc;
        }
        float cr = (float) (maxc - minc);
        float s = cr / (float) maxc;
        float rc = (float) (maxc - r) / cr;
        float gc = (float) (maxc - g) / cr;
        float bc = (float) (maxc - b) / cr;
        float h;
        if (r == maxc) {
            h = bc - gc;
        } else if (g == maxc) {
            h = (float) (2.0 + rc - bc);
        } else {
            h = (float) (4.0 + gc - rc);
        }
        // Pillow: fmod(h / 6.0 + 1.0, 1.0). Here h / 6 + 1 lies in [5/6, 11/6), where that fmod is exactly
        // "subtract 1 if >= 1" (Sterbenz), and Java's double % is a slow runtime call.
        double wrapped = h / 6.0 + 1.0;
        h = (float) (wrapped >= 1.0 ? wrapped - 1.0 : wrapped);
        int uh = clip8((int) (h * 255.0));
        int us = clip8((int) (s * 255.0));
        return uh << 16 | us << 8 | maxc;
    }

    /** Pillow's {@code hsv2rgb}; returns {@code R << 16 | G << 8 | B}. */
    static int hsvToRgb(int h, int s, int v) {
        if (s == 0) {
            return v << 16 | v << 8 | v;
        }
        int i = (int) ((float) h * 6.0 / 255.0); // floor of a non-negative value
        float f = (float) ((float) h * 6.0 / 255.0 - (float) i);
        float fs = (float) (s / 255.0);
        float fsf = fs * f;
        int p = clip8((int) Math.round((float) v * (1.0 - fs)));
        int q = clip8((int) Math.round((float) v * (1.0 - fsf)));
        int t = clip8((int) Math.round((float) v * (1.0 - fs * (1.0 - f))));
        switch (i % 6) {
            case 0: return v << 16 | t << 8 | p;
            case 1: return q << 16 | v << 8 | p;
            case 2: return p << 16 | v << 8 | t;
            case 3: return p << 16 | q << 8 | v;
            case 4: return t << 16 | p << 8 | v;
            default: return v << 16 | p << 8 | q;
        }
    }

    /** torchvision {@code rgb_to_grayscale(img, 3)}: the 'L' image replicated to three channels. */
    public static void grayscale(byte[] rgb) {
        for (int i = 0; i < rgb.length; i += 3) {
            byte l = (byte) luma(rgb[i] & 0xff, rgb[i + 1] & 0xff, rgb[i + 2] & 0xff);
            rgb[i] = l;
            rgb[i + 1] = l;
            rgb[i + 2] = l;
        }
    }

    /** PIL {@code ImageOps.solarize}: values {@code >= threshold} become {@code 255 - v}. */
    public static void solarize(byte[] rgb, int threshold) {
        byte[] lut = new byte[256];
        for (int v = 0; v < 256; v++) {
            lut[v] = (byte) (v < threshold ? v : 255 - v);
        }
        applyLut(rgb, lut);
    }

    private static byte[] blendLut(int degenerate, float alpha) {
        byte[] lut = new byte[256];
        for (int v = 0; v < 256; v++) {
            lut[v] = (byte) blend(degenerate, v, alpha);
        }
        return lut;
    }

    private static void applyLut(byte[] rgb, byte[] lut) {
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = lut[rgb[i] & 0xff];
        }
    }

    private static int clip8(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }
}
