package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Decoding against PIL (fixtures and expected arrays from tools/golden/decode.py). */
class ImageDecoderTest {
    private static final Map<String, NpyArray> EXPECTED = Golden.npz("decode/expected.npz");

    static RgbImage decodeFixture(String name) throws IOException {
        try (InputStream in = Golden.open("decode/" + name)) {
            return ImageDecoder.decode(in.readAllBytes(), name);
        }
    }

    /** Checks size and compares every sample; returns the largest absolute difference. */
    private static int maxDifference(String name) throws IOException {
        NpyArray want = EXPECTED.get(name);
        assertNotNull(want, "no expected array for " + name);
        RgbImage got = decodeFixture(name);
        assertEquals(want.shape()[0], got.height(), name + " height");
        assertEquals(want.shape()[1], got.width(), name + " width");
        byte[] expected = new byte[(int) want.size()];
        want.data().duplicate().get(expected);
        int max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs((expected[i] & 0xff) - (got.pixels()[i] & 0xff)));
        }
        return max;
    }

    @ParameterizedTest
    @ValueSource(strings = {"grey.png", "grey16.png", "rgb16.png", "rgba.png", "la.png", "palette.png",
            "palette.gif", "bilevel.png", "rgb.bmp"})
    void losslessFormatsMatchPilExactly(String name) throws IOException {
        assertEquals(0, maxDifference(name), name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cmyk.jpg", "progressive.jpg", "grey.jpg", "exif3.jpg", "exif6.jpg", "exif8.jpg"})
    void jpegsMatchPilUpToIdctRounding(String name) throws IOException {
        // Java's libjpeg 6b and PIL's libjpeg-turbo may round the inverse DCT / upsampling differently by a few
        // levels; a wrong colour conversion or orientation would differ by ~100 or more.
        int diff = maxDifference(name);
        assertTrue(diff <= 6, name + " differs from PIL by up to " + diff);
    }

    @Test
    void exifRotationGivesTheUprightPicture() throws IOException {
        RgbImage img = decodeFixture("exif6.jpg"); // stored 24x16 landscape, displayed rotated 90 degrees clockwise
        assertEquals(16, img.width());
        assertEquals(24, img.height());
        // After a clockwise turn the stored bottom-left (blue) block is at the top-left.
        assertTrue(img.get(2, 2, 2) > 180 && img.get(2, 2, 0) < 60, "top-left should be blue");
    }

    @Test
    void brokenInputsAreUnreadableImageExceptions() throws IOException {
        byte[] jpeg;
        try (InputStream in = Golden.open("decode/exif3.jpg")) {
            jpeg = in.readAllBytes();
        }
        byte[] truncated = java.util.Arrays.copyOf(jpeg, jpeg.length / 2);
        assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(truncated, "t.jpg"));
        assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(new byte[0], "empty.jpg"));
        assertThrows(UnreadableImageException.class,
                () -> ImageDecoder.decode("hello, I am text".getBytes(), "text.jpg"));
        byte[] headerOnly = java.util.Arrays.copyOf(jpeg, 20);
        UnreadableImageException e = assertThrows(UnreadableImageException.class,
                () -> ImageDecoder.decode(headerOnly, "short.jpg"));
        assertEquals("short.jpg", e.file());
    }

    @Test
    void jpegCutInsideTheImageDataIsRejectedLikePilDoes() throws IOException {
        // libjpeg only warns about a premature end and pads the image with grey; PIL raises, and so must we.
        java.awt.image.BufferedImage noise = new java.awt.image.BufferedImage(64, 64, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                noise.setRGB(x, y, rng.nextInt(1 << 24));
            }
        }
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(noise, "jpg", buf);
        byte[] full = buf.toByteArray();
        assertEquals(64, ImageDecoder.decode(full, "full.jpg").width());
        byte[] cut = java.util.Arrays.copyOf(full, full.length * 4 / 5);
        UnreadableImageException e = assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(cut, "cut.jpg"));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
}
