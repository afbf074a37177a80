package io.moco4j.data.augment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.data.RgbImage;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Each op with fixed parameters against torchvision 0.14 / Pillow on PIL images (tools/golden/augment.py).
 * 8-bit results must match exactly; the maximum absolute difference per op is printed.
 */
class PilGoldenTest {
    private static Map<String, NpyArray> arrays;
    private static JsonNode meta;
    private static final Map<String, Integer> MAX_DIFF = new TreeMap<>();

    @BeforeAll
    static void load() {
        arrays = Golden.npz("augment/augment.npz");
        meta = Golden.json("augment/augment.json");
    }

    @TestFactory
    List<DynamicTest> everyCaseMatchesTorchvision() {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : meta.get("cases")) {
            tests.add(DynamicTest.dynamicTest(c.get("name").asText(), () -> check(c)));
        }
        tests.add(DynamicTest.dynamicTest("report", () -> {
            System.out.println("augment golden max |diff| per op (8-bit): " + MAX_DIFF);
            assertTrue(MAX_DIFF.size() >= 10, "expected every op family to be checked, got " + MAX_DIFF.keySet());
        }));
        return tests;
    }

    private static void check(JsonNode c) {
        String name = c.get("name").asText();
        String op = c.get("op").asText();
        JsonNode p = c.get("params");
        RgbImage in = image(arrays.get("in_" + c.get("input").asText()));
        NpyArray expected = arrays.get("out_" + name);
        byte[] px = in.pixels().clone();
        RgbImage out;
        switch (op) {
            case "resized_crop" -> out = PilResample.resizedCrop(in, p.get("left").asInt(), p.get("top").asInt(),
                    p.get("width").asInt(), p.get("height").asInt(), p.get("out_w").asInt(), p.get("out_h").asInt());
            case "resize_center_crop" -> {
                int[] wh = GeometryOps.shorterSideSize(in.width(), in.height(), p.get("shorter").asInt());
                RgbImage resized = (wh[0] == in.width() && wh[1] == in.height()) ? in : PilResample.resize(in, wh[0], wh[1]);
                int crop = p.get("crop").asInt();
                out = GeometryOps.centerCrop(resized, crop, crop);
            }
            case "brightness" -> out = inPlace(in, px, () -> PilColor.brightness(px, p.get("factor").asDouble()));
            case "contrast" -> out = inPlace(in, px, () -> PilColor.contrast(px, p.get("factor").asDouble()));
            case "saturation" -> out = inPlace(in, px, () -> PilColor.saturation(px, p.get("factor").asDouble()));
            case "hue" -> out = inPlace(in, px, () -> PilColor.hue(px, p.get("factor").asDouble()));
            case "grayscale" -> out = inPlace(in, px, () -> PilColor.grayscale(px));
            case "hflip" -> out = inPlace(in, px, () -> GeometryOps.flipHorizontal(px, in.width(), in.height()));
            case "solarize" -> out = inPlace(in, px, () -> PilColor.solarize(px, p.get("threshold").asInt()));
            case "gaussian_blur" -> out = inPlace(in, px,
                    () -> PilBlur.gaussianBlur(px, in.width(), in.height(), (float) p.get("sigma").asDouble()));
            case "jitter" -> {
                int[] order = new int[4];
                for (int i = 0; i < 4; i++) {
                    order[i] = p.get("order").get(i).asInt();
                }
                JitterParams jp = new JitterParams(order, p.get("brightness").asDouble(), p.get("contrast").asDouble(),
                        p.get("saturation").asDouble(), p.get("hue").asDouble());
                out = inPlace(in, px, () -> jp.apply(px));
            }
            case "normalize" -> {
                double[] mean = new double[3];
                double[] std = new double[3];
                for (int i = 0; i < 3; i++) {
                    mean[i] = p.get("mean").get(i).asDouble();
                    std[i] = p.get("std").get(i).asDouble();
                }
                float[] got = new float[px.length];
                Normalization.write(px, in.width(), in.height(), new Normalization(mean, std).table(), got, 0);
                assertArrayEquals(expected.toFloatArray(), got, 0f, name);
                MAX_DIFF.merge(op, 0, Math::max);
                return;
            }
            default -> throw new AssertionError("unknown op " + op);
        }
        RgbImage want = image(expected);
        assertEquals(want.width(), out.width(), name + " width");
        assertEquals(want.height(), out.height(), name + " height");
        int maxDiff = 0;
        int bad = 0;
        for (int i = 0; i < want.pixels().length; i++) {
            int d = Math.abs((want.pixels()[i] & 0xff) - (out.pixels()[i] & 0xff));
            maxDiff = Math.max(maxDiff, d);
            if (d != 0) {
                bad++;
            }
        }
        synchronized (MAX_DIFF) {
            MAX_DIFF.merge(op, maxDiff, Math::max);
        }
        assertEquals(0, maxDiff, name + ": " + bad + " of " + want.pixels().length + " values differ, max |diff| " + maxDiff);
    }

    private static RgbImage inPlace(RgbImage in, byte[] px, Runnable r) {
        r.run();
        return new RgbImage(in.width(), in.height(), px);
    }

    private static RgbImage image(NpyArray a) {
        assertEquals("|u1", a.dtype());
        assertEquals(3, a.shape().length);
        assertEquals(3, a.shape()[2]);
        byte[] b = new byte[(int) a.size()];
        a.data().duplicate().get(b);
        return new RgbImage((int) a.shape()[1], (int) a.shape()[0], b);
    }

    @Test
    void inputImagesAreNotTrivial() {
        // Guards against a generator change that would make the golden cases vacuous (e.g. a constant image).
        RgbImage noise = image(arrays.get("in_noise"));
        long distinct = java.util.stream.IntStream.range(0, noise.pixels().length).map(i -> noise.pixels()[i] & 0xff)
                .distinct().count();
        assertTrue(distinct > 200, "noise image has only " + distinct + " distinct values");
    }
}
