package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Images whose header claims more pixels than the limit are refused before a pixel buffer exists. */
class DecompressionBombTest {
    @AfterEach
    void restoreLimit() {
        ImageDecoder.setMaxPixels(ImageDecoder.DEFAULT_MAX_PIXELS);
    }

    @Test
    void pngClaimingTenBillionPixelsIsRefusedByTheLimit() throws IOException {
        byte[] bomb = HostileImages.pngBomb(100_000, 100_000);
        assertTrue(bomb.length < 1000, "a bomb is tiny: " + bomb.length);
        UnreadableImageException e = assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(bomb, "bomb.png"));
        assertTrue(e.getMessage().contains("declares 100000 x 100000 = 10,000,000,000 pixels, above the limit of 89,478,485"),
                e.getMessage());
    }

    @Test
    void jpegClaimingFourBillionPixelsIsRefused() throws IOException {
        byte[] bomb = HostileImages.jpegBomb(65_000, 65_000);
        UnreadableImageException e = assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(bomb, "bomb.jpg"));
        assertTrue(e.getMessage().contains("declares 65000 x 65000"), e.getMessage());
    }

    @Test
    void theLimitIsConfigurableAndImagesBelowItDecode() throws IOException {
        byte[] png = HostileImages.encode(HostileImages.noise(40, 30, 3), "png");
        assertEquals(40, ImageDecoder.decode(png, "ok.png").width());
        ImageDecoder.setMaxPixels(1199);
        UnreadableImageException e = assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(png, "ok.png"));
        assertTrue(e.getMessage().contains("40 x 30 = 1,200 pixels, above the limit of 1,199"), e.getMessage());
        ImageDecoder.setMaxPixels(1200);
        assertEquals(30, ImageDecoder.decode(png, "ok.png").height());
    }

    @Test
    void gifWithThousandsOfFramesDecodesItsFirstFrameOnly() throws IOException {
        byte[] gif = HostileImages.manyFrameGif(5000);
        RgbImage img = ImageDecoder.decode(gif, "many.gif");
        assertEquals(8, img.width());
        assertEquals(8, img.height());
    }

    @Test
    void mutatedFilesAreUnreadableOrDecodeNeverAnythingElse() throws IOException {
        byte[][] valid = {HostileImages.encode(HostileImages.noise(24, 20, 1), "png"),
                HostileImages.encode(HostileImages.noise(24, 20, 2), "jpg"),
                HostileImages.encode(HostileImages.noise(24, 20, 3), "bmp"),
                HostileImages.encode(HostileImages.noise(24, 20, 4), "gif")};
        SplittableRandom r = new SplittableRandom(13);
        int refused = 0;
        for (int i = 0; i < 200; i++) {
            byte[] m = HostileImages.mutate(valid[i % valid.length], r);
            try {
                RgbImage img = ImageDecoder.decode(m, "m" + i);
                assertTrue((long) img.width() * img.height() <= ImageDecoder.maxPixels());
            } catch (UnreadableImageException e) {
                refused++; // the only exception decode may throw for bad data
            }
        }
        assertTrue(refused > 20, "most truncations and empty files are refused: " + refused);
    }
}
