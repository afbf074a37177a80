package io.moco4j.data.augment;

/**
 * Pillow's {@code ImageFilter.GaussianBlur(radius)} (Pillow 9.x {@code BoxBlur.c}), which MoCo v2/v3's
 * reference loaders apply with {@code radius = sigma ~ U[0.1, 2.0]}.
 *
 * <p>It is not a sampled Gaussian kernel: Pillow approximates the Gaussian of standard deviation
 * {@code radius} by three passes of an "extended box" filter per axis (Gwosdek et al., SSVM 2011). The box
 * has an integer half-width {@code l} plus a fractional weight {@code a} on the two pixels just outside it,
 * chosen so the three-pass variance equals {@code radius^2}. Edges repeat the border pixel. Weights are
 * 24-bit fixed point and each pass rounds to 8 bits. We mirror the float32 parameter computation and the
 * integer arithmetic exactly; the 3 horizontal passes run before the 3 vertical ones, as in Pillow.
 */
public final class PilBlur {
    private static final int PASSES = 3;

    private PilBlur() {}

    /** Blurs in place; {@code radius} is the Gaussian's standard deviation (Pillow parses it as a C float). */
    public static void gaussianBlur(byte[] rgb, int width, int height, float radius) {
        boxBlur(rgb, width, height, extendedBoxRadius(radius, PASSES), PASSES);
    }

    /** The extended-box radius {@code l + a} Pillow derives for {@code passes} passes (its float32 arithmetic). */
    static float extendedBoxRadius(float radius, int passes) {
        float sigma2 = radius * radius / passes;
        float boxLength = (float) Math.sqrt(12.0 * sigma2 + 1.0);
        float l = (float) Math.floor((boxLength - 1.0) / 2.0);
        float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
        a /= 6 * (sigma2 - (l + 1) * (l + 1));
        return l + a;
    }

    /** Pillow's {@code BoxBlur(radius)} applied {@code passes} times per axis, in place. */
    public static void boxBlur(byte[] rgb, int width, int height, float radius, int passes) {
        int r = (int) radius;
        int ww = (int) ((float) (1 << 24) / (radius * 2 + 1));
        int fw = ((1 << 24) - (r * 2 + 1) * ww) / 2;
        int maxLen = Math.max(width, height);
        int[] line = new int[maxLen];
        int[] out = new int[maxLen];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < height; y++) {
                blurLine(rgb, y * width * 3 + c, 3, width, r, ww, fw, passes, line, out);
            }
        }
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < width; x++) {
                blurLine(rgb, x * 3 + c, width * 3, height, r, ww, fw, passes, line, out);
            }
        }
    }

    private static void blurLine(byte[] rgb, int start, int step, int len, int r, int ww, int fw, int passes,
                                 int[] line, int[] out) {
        for (int i = 0, p = start; i < len; i++, p += step) {
            line[i] = rgb[p] & 0xff;
        }
        for (int pass = 0; pass < passes; pass++) {
            boxLine(line, out, len, r, ww, fw);
            System.arraycopy(out, 0, line, 0, len);
        }
        for (int i = 0, p = start; i < len; i++, p += step) {
            rgb[p] = (byte) line[i];
        }
    }

    /**
     * One pass over one line. {@code acc} is the plain sum of the {@code 2r+1} pixels centred on x (border
     * pixels repeated); the result adds the two next pixels with the fractional weight {@code fw}. All values
     * stay below 2^32, so Java's wrapping int arithmetic with an unsigned shift equals Pillow's UINT32 maths.
     */
    static void boxLine(int[] in, int[] out, int len, int r, int ww, int fw) {
        int last = len - 1;
        int acc = in[0] * (r + 1);
        int edgeA = Math.min(r + 1, len);
        int edgeB = Math.max(len - r - 1, 0);
        for (int x = 0; x < edgeA - 1; x++) {
            acc += in[x];
        }
        acc += in[last] * (r - edgeA + 1);
        if (edgeA <= edgeB) {
            for (int x = 0; x < edgeA; x++) {
                acc += in[x + r] - in[0];
                out[x] = save(acc, ww, in[0] + in[x + r + 1], fw);
            }
            for (int x = edgeA; x < edgeB; x++) {
                acc += in[x + r] - in[x - r - 1];
                out[x] = save(acc, ww, in[x - r - 1] + in[x + r + 1], fw);
            }
            for (int x = edgeB; x <= last; x++) {
                acc += in[last] - in[x - r - 1];
                out[x] = save(acc, ww, in[x - r - 1] + in[last], fw);
            }
        } else {
            for (int x = 0; x < edgeB; x++) {
                acc += in[x + r] - in[0];
                out[x] = save(acc, ww, in[0] + in[x + r + 1], fw);
            }
            for (int x = edgeB; x < edgeA; x++) {
                acc += in[last] - in[0];
                out[x] = save(acc, ww, in[0] + in[last], fw);
            }
            for (int x = edgeA; x <= last; x++) {
                acc += in[last] - in[x - r - 1];
                out[x] = save(acc, ww, in[x - r - 1] + in[last], fw);
            }
        }
    }

    private static int save(int acc, int ww, int far, int fw) {
        int bulk = acc * ww + far * fw;
        return ((bulk + (1 << 23)) >>> 24) & 0xff;
    }
}
