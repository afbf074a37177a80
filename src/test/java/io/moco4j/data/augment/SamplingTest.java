package io.moco4j.data.augment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/** Sampled parameter ranges and distributions of the random ops (fixed seeds, bounds of several sigmas). */
class SamplingTest {

    @Test
    void randomResizedCropStaysInRangeAndInside() {
        RandomGenerator rng = new SplittableRandom(7);
        int width = 1000;
        int height = 800;
        double area = width * height;
        int n = 4000;
        int small = 0;
        double posSum = 0;
        int posCount = 0;
        for (int i = 0; i < n; i++) {
            CropBox b = CropBox.sampleRandomResized(width, height, 0.2, 1.0, 3.0 / 4, 4.0 / 3, rng);
            assertTrue(b.top() >= 0 && b.left() >= 0 && b.top() + b.height() <= height && b.left() + b.width() <= width, b.toString());
            double frac = b.width() * (double) b.height() / area;
            // Sides are rounded to integers (>= 300 px here), so area and ratio are within ~0.5% of the continuous values.
            assertTrue(frac >= 0.2 * 0.99 && frac <= 1.0, "area fraction " + frac);
            double ratio = (double) b.width() / b.height();
            assertTrue(ratio >= 0.75 * 0.99 && ratio <= 4.0 / 3 * 1.01, "ratio " + ratio);
            if (frac < 0.3) {
                small++;
            }
            if (b.width() < width) {
                posSum += b.left() / (double) (width - b.width());
                posCount++;
            }
        }
        // Uniform area on [0.2, 1] puts 12.5% below 0.3 (more after rejections of large extreme-ratio boxes).
        assertTrue(small > 0.09 * n && small < 0.25 * n, "fraction below 0.3: " + small / (double) n);
        assertEquals(0.5, posSum / posCount, 0.03, "mean relative left offset");
    }

    @Test
    void randomResizedCropFallsBackToTheClampedCentreCrop() {
        RandomGenerator rng = new SplittableRandom(1);
        // Every try wants the whole area at ratio >= 2, which cannot fit a square: fallback keeps the width and
        // cuts the height to width / 2, centred.
        assertEquals(new CropBox(25, 0, 50, 100), CropBox.sampleRandomResized(100, 100, 1.0, 1.0, 2.0, 3.0, rng));
        // Python's round is half to even: 101 / 2 = 50.5 becomes 50 (not 51); top = (120 - 50) // 2.
        assertEquals(new CropBox(35, 0, 50, 101), CropBox.sampleRandomResized(101, 120, 1.0, 1.0, 2.0, 3.0, rng));
        // A wide image and ratios <= 1: keep the height, width = height * max ratio, centred.
        assertEquals(new CropBox(0, 100, 100, 100), CropBox.fallback(300, 100, 0.5, 1.0));
        // Inside the ratio range: the whole image.
        assertEquals(new CropBox(0, 0, 30, 40), CropBox.fallback(40, 30, 0.75, 4.0 / 3));
    }

    @Test
    void jitterFactorsCoverTheirRanges() {
        RandomGenerator rng = new SplittableRandom(3);
        int n = 20000;
        double bMin = 9;
        double bMax = -9;
        double hMin = 9;
        double hMax = -9;
        double sMin = 9;
        double bSum = 0;
        Map<String, Integer> orders = new HashMap<>();
        for (int i = 0; i < n; i++) {
            JitterParams p = JitterParams.sample(0.4, 0.4, 1.5, 0.1, rng);
            bMin = Math.min(bMin, p.brightness());
            bMax = Math.max(bMax, p.brightness());
            bSum += p.brightness();
            assertTrue(p.contrast() >= 0.6 && p.contrast() <= 1.4);
            assertTrue(p.saturation() >= 0 && p.saturation() <= 2.5, "saturation lower bound is max(0, 1 - 1.5)");
            sMin = Math.min(sMin, p.saturation());
            hMin = Math.min(hMin, p.hue());
            hMax = Math.max(hMax, p.hue());
            orders.merge(java.util.Arrays.toString(p.order()), 1, Integer::sum);
        }
        assertTrue(bMin >= 0.6 && bMin < 0.61 && bMax <= 1.4 && bMax > 1.39, bMin + " " + bMax);
        assertEquals(1.0, bSum / n, 0.01);
        assertTrue(sMin < 0.01, "saturation reaches 0: " + sMin);
        assertTrue(hMin >= -0.1 && hMin < -0.099 && hMax <= 0.1 && hMax > 0.099, hMin + " " + hMax);
        assertEquals(24, orders.size(), "all orders of the 4 adjustments occur");
        for (Map.Entry<String, Integer> e : orders.entrySet()) {
            assertEquals(n / 24.0, e.getValue(), n / 24.0 * 0.15, "order " + e.getKey());
        }
        JitterParams off = JitterParams.sample(0, 0.4, 0, 0, rng);
        assertTrue(Double.isNaN(off.brightness()) && Double.isNaN(off.saturation()) && Double.isNaN(off.hue()));
        assertTrue(off.contrast() >= 0.6 && off.contrast() <= 1.4);
    }

    @Test
    void hueShiftIsTorchvisionsUint8Cast() {
        // np.uint8(hue * 255) truncates towards zero, then wraps modulo 256.
        assertEquals(25, PilColor.hueShift(0.1));
        assertEquals(231, PilColor.hueShift(-0.1));
        assertEquals(0, PilColor.hueShift(-0.001));
        assertEquals(129, PilColor.hueShift(-0.5));
        assertEquals(127, PilColor.hueShift(0.5));
    }

    @Test
    void lumaIsPillowsFixedPointBt601() {
        assertEquals(255, PilColor.luma(255, 255, 255));
        assertEquals(0, PilColor.luma(0, 0, 0));
        // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1
        assertEquals(76, PilColor.luma(255, 0, 0));
        assertEquals(150, PilColor.luma(0, 255, 0));
        assertEquals(29, PilColor.luma(0, 0, 255));
    }
}
