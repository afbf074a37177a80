package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.train.TrainingData;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Evaluation views accept any image size and aspect ratio, as torchvision's Resize + CenterCrop. */
class EvalResizeTest {
    static final double[] CIFAR_MEAN = {0.4914, 0.4822, 0.4465};
    static final double[] CIFAR_STD = {0.2023, 0.1994, 0.2010};

    static RgbImage solid(int w, int h, int r, int g, int b) {
        byte[] p = new byte[w * h * 3];
        for (int i = 0; i < w * h; i++) {
            p[3 * i] = (byte) r;
            p[3 * i + 1] = (byte) g;
            p[3 * i + 2] = (byte) b;
        }
        return new RgbImage(w, h, p);
    }

    @Test
    void anySizeAndAspectGivesTheViewSize() {
        for (int size : new int[] {32, 64, 96}) {
            for (ViewTransform t : List.of(ProbeTransforms.eval(size), TrainingData.evalTransform(size))) {
                for (int[] wh : new int[][] {{28, 28}, {28, 40}, {1, 50}, {500, 3}, {size, size}, {1000, 700}}) {
                    float[] out = new float[3 * size * size];
                    t.apply(solid(wh[0], wh[1], 10, 200, 90), new SplittableRandom(0), out, 0);
                    // A solid image stays solid through bilinear resize and crop: every pixel is the normalised colour.
                    float first = out[0];
                    for (int i = 1; i < size * size; i++) {
                        assertEquals(first, out[i], 1e-5, size + "px view of " + Arrays.toString(wh));
                    }
                }
            }
        }
    }

    @Test
    void thirtyTwoPixelInputsAreOnlyNormalisedAsInTheCifarDemo() {
        SplittableRandom rng = new SplittableRandom(7);
        byte[] p = new byte[32 * 32 * 3];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) rng.nextInt(256);
        }
        float[] out = new float[3 * 32 * 32];
        ProbeTransforms.eval(32).apply(new RgbImage(32, 32, p), new SplittableRandom(0), out, 0);
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < 32 * 32; i++) {
                double expected = ((p[3 * i + c] & 0xff) / 255.0 - CIFAR_MEAN[c]) / CIFAR_STD[c];
                assertEquals(expected, out[c * 1024 + i], 1e-5);
            }
        }
    }

    @Test
    void theDescriptionSaysHowImagesAreSized() {
        String d = ProbeTransforms.describe(ProbeTransforms.eval(32));
        assertTrue(d.startsWith("evaluation view 32x32: shorter side resized to 32 px (bilinear), centre crop"), d);
        String big = ProbeTransforms.describe(ProbeTransforms.eval(224));
        assertTrue(big.contains("shorter side resized to 256 px"), big);
    }
}
