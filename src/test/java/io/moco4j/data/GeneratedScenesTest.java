package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class GeneratedScenesTest {

    @Test
    void sameSeedSameImagesOtherSeedOrSplitOtherImages() {
        GeneratedScenes a = GeneratedScenes.train(30, 42);
        GeneratedScenes b = GeneratedScenes.train(30, 42);
        GeneratedScenes c = GeneratedScenes.train(30, 43);
        GeneratedScenes t = GeneratedScenes.test(30, 42);
        for (int i = 0; i < 30; i += 7) {
            assertArrayEquals(a.load(i).pixels(), b.load(i).pixels());
            assertFalse(java.util.Arrays.equals(a.load(i).pixels(), c.load(i).pixels()));
            assertFalse(java.util.Arrays.equals(a.load(i).pixels(), t.load(i).pixels()));
        }
        // Rendering order must not matter (cache or not, any thread): image 5 rendered first equals image 5 later.
        GeneratedScenes fresh = GeneratedScenes.train(30, 42);
        assertArrayEquals(a.load(5).pixels(), fresh.load(5).pixels());
    }

    @Test
    void classesAreBalancedAndSizeIsConfigurable() {
        GeneratedScenes ds = GeneratedScenes.train(1003, 0, 64);
        int[] counts = new int[10];
        for (int i = 0; i < ds.size(); i++) {
            counts[ds.label(i)]++;
        }
        for (int c = 0; c < 10; c++) {
            assertTrue(counts[c] == 100 || counts[c] == 101, "class " + c + " has " + counts[c]);
        }
        assertEquals(10, ds.classes().size());
        RgbImage img = ds.load(0);
        assertEquals(64, img.width());
        assertEquals(64, img.height());
        assertEquals(32, GeneratedScenes.test(5, 0).load(4).width());
    }

    @Test
    void imagesVaryWithinAClass() {
        GeneratedScenes ds = GeneratedScenes.train(200, 1);
        // Mean colour of images of the same class must spread widely, otherwise colour would give the class away.
        double min = Double.MAX_VALUE;
        double max = 0;
        for (int i = 0; i < 200; i += 10) { // all class 0
            byte[] p = ds.load(i).pixels();
            double sum = 0;
            for (byte v : p) {
                sum += v & 0xff;
            }
            min = Math.min(min, sum / p.length);
            max = Math.max(max, sum / p.length);
        }
        assertTrue(max - min > 60, "mean brightness of class 0 ranges only " + min + ".." + max);
    }

    @Test
    void rawPixelNeighboursAreWeak() throws IOException {
        // Shape, not colour or layout, must be what separates the classes, so raw pixels must not give the class
        // away (the first design's single centred object reached 31% here, and MoCo learned its background).
        double acc = RawPixelKnn.accuracy(GeneratedScenes.train(1000, 0), GeneratedScenes.test(300, 0), 20, 10);
        assertTrue(acc < 30, "raw-pixel kNN accuracy " + acc + "%");
    }
}
