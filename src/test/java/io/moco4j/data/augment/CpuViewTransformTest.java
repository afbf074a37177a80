package io.moco4j.data.augment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** Application probabilities, determinism and output contract of the CPU executor. */
class CpuViewTransformTest {

    /** A colourful 40x40 image whose left and right halves differ (so flips and greyscale are detectable). */
    static RgbImage testImage() {
        int w = 40;
        int h = 40;
        byte[] px = new byte[w * h * 3];
        SplittableRandom r = new SplittableRandom(99);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                px[i] = (byte) (x < w / 2 ? 200 : 20 + r.nextInt(30));
                px[i + 1] = (byte) (30 + y * 3);
                px[i + 2] = (byte) r.nextInt(256);
            }
        }
        return new RgbImage(w, h, px);
    }

    private static double rate(List<OpSpec> ops, int size, Predicate<RgbImage> event, long seed, int n) {
        CpuViewTransform t = new CpuViewTransform(new ViewSpec(size, ops, Normalization.IMAGENET));
        RgbImage img = testImage();
        int hits = 0;
        for (int i = 0; i < n; i++) {
            if (event.test(t.augment(img, new SplittableRandom(seed * 1_000_003L + i)))) {
                hits++;
            }
        }
        return hits / (double) n;
    }

    private static boolean isGrey(RgbImage im) {
        byte[] p = im.pixels();
        for (int i = 0; i < p.length; i += 3) {
            if (p[i] != p[i + 1] || p[i] != p[i + 2]) {
                return false;
            }
        }
        return true;
    }

    private static boolean isFlipped(RgbImage im) {
        return im.get(0, 0, 0) < 100; // the bright-red half moved to the right
    }

    @Test
    void applicationProbabilitiesMatchTheirP() {
        int n = 3000;
        // Binomial standard deviations are <= 0.0092 here; bounds are about 4 sigma.
        assertEquals(0.2, rate(List.of(new OpSpec.RandomGrayscale(0.2)), 40, CpuViewTransformTest::isGrey, 1, n), 0.035);
        assertEquals(0.5, rate(List.of(new OpSpec.RandomHorizontalFlip(0.5)), 40, CpuViewTransformTest::isFlipped, 2, n), 0.037);
        assertEquals(0.8, rate(List.of(new OpSpec.RandomApply(0.8, List.of(new OpSpec.RandomGrayscale(1.0)))), 40,
                CpuViewTransformTest::isGrey, 3, n), 0.03);
        assertEquals(0.1, rate(List.of(new OpSpec.RandomApply(0.1, List.of(new OpSpec.Solarize(128)))), 40,
                im -> (im.get(0, 0, 0) & 0xff) == 55, 4, n), 0.025);
        assertEquals(0.0, rate(List.of(new OpSpec.RandomGrayscale(0.0)), 40, CpuViewTransformTest::isGrey, 5, 500));
        assertEquals(1.0, rate(List.of(new OpSpec.RandomHorizontalFlip(1.0)), 40, CpuViewTransformTest::isFlipped, 6, 500));
    }

    @Test
    void blurSigmaIsDrawnFromItsRange() {
        // A single bright pixel: with sigma in [0.1, 2.0] the centre keeps between ~1/(2 pi 4) and all of its value.
        byte[] px = new byte[21 * 21 * 3];
        int c = (10 * 21 + 10) * 3;
        px[c] = (byte) 255;
        RgbImage dot = new RgbImage(21, 21, px);
        CpuViewTransform t = new CpuViewTransform(new ViewSpec(21, List.of(new OpSpec.GaussianBlur(0.1, 2.0)), Normalization.IMAGENET));
        int min = 255;
        int max = 0;
        for (int i = 0; i < 400; i++) {
            int v = t.augment(dot, new SplittableRandom(i)).get(10, 10, 0);
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertTrue(max >= 245, "small sigmas barely blur (sigma 0.1 keeps 255 * 0.978): " + max);
        assertTrue(min >= 7 && min <= 14, "sigma near 2 spreads the dot (255 / (2 pi 4) = 10): " + min);
    }

    @Test
    void deterministicGivenTheGeneratorAndThreadIndependent() throws Exception {
        List<ViewTransform> views = Recipes.load("v2", 32).cpuTransforms();
        RgbImage img = testImage();
        byte[] before = img.pixels().clone();
        ViewTransform v = views.get(0);
        float[] a = new float[3 * 32 * 32];
        float[] b = new float[3 * 32 * 32];
        float[] other = new float[3 * 32 * 32];
        v.apply(img, new SplittableRandom(42), a, 0);
        v.apply(img, new SplittableRandom(42), b, 0);
        v.apply(img, new SplittableRandom(43), other, 0);
        assertArrayEquals(a, b);
        assertFalse(Arrays.equals(a, other), "another seed gives another view");
        assertArrayEquals(before, img.pixels(), "the input image is never modified");

        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<float[]>> fs = new ArrayList<>();
            for (int s = 0; s < 40; s++) {
                long seed = s;
                fs.add(pool.submit(() -> {
                    float[] out = new float[3 * 32 * 32 + 5];
                    v.apply(img, new SplittableRandom(seed), out, 5);
                    return Arrays.copyOfRange(out, 5, out.length);
                }));
            }
            for (int s = 0; s < 40; s++) {
                float[] serial = new float[3 * 32 * 32];
                v.apply(img, new SplittableRandom(s), serial, 0);
                assertArrayEquals(serial, fs.get(s).get(), "seed " + s);
            }
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void writesNormalisedChwAtTheOffset() {
        // Identity ops on a 2x1 image: out = (v / 255 - mean) / std per channel, channel planes in order.
        RgbImage img = new RgbImage(2, 1, new byte[] {(byte) 255, 0, 0, 0, (byte) 255, 51});
        Normalization n = new Normalization(new double[] {0.5, 0.5, 0.5}, new double[] {0.5, 0.25, 0.2});
        CpuViewTransform t = new CpuViewTransform(new ViewSpec(1, List.of(), n));
        assertThrows(UserException.class, () -> t.apply(img, new SplittableRandom(0), new float[6], 0));
        float[] out = new float[8];
        // A 2x1 image is not square, so normalise it directly.
        Normalization.write(img.pixels(), 2, 1, n.table(), out, 2);
        assertArrayEquals(new float[] {0, 0, 1, -1, -2, 2, -2.5f, (0.2f - 0.5f) / 0.2f}, out, 1e-6f);
    }
}
