package io.moco4j.data.augment;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.ResizeTooLargeException;
import io.moco4j.data.RgbImage;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A thin image within the decoder's pixel limit must not become a huge buffer in the evaluation resize. */
class ResizeLimitTest {
    private static CpuViewTransform eval32() {
        return new CpuViewTransform(new ViewSpec(32, List.of(new OpSpec.Resize(32), new OpSpec.CenterCrop()),
                Normalization.IMAGENET));
    }

    @Test
    void aThinImageIsRefusedBeforeItsResizedBufferIsAllocated() {
        // 3,000,000 x 1 px (9 MB as RGB) would be 96,000,000 x 32 = 3.07e9 pixels (9.2 GB) after Resize(32)
        RgbImage thin = new RgbImage(3_000_000, 1, new byte[3_000_000 * 3]);
        ResizeTooLargeException e = assertThrows(ResizeTooLargeException.class,
                () -> eval32().apply(thin, new SplittableRandom(0), new float[3 * 32 * 32], 0));
        assertTrue(e.getMessage().contains("96000000 x 32"), e.getMessage());
        assertTrue(e.getMessage().contains("aspect ratio"), e.getMessage());
    }

    @Test
    void theLimitIsOnTheResizedSizeInBothOrientations() {
        assertThrows(ResizeTooLargeException.class, () -> CpuViewTransform.checkResizedSize(1, 30_000_000, 32));
        assertThrows(ResizeTooLargeException.class, () -> CpuViewTransform.checkResizedSize(30_000_000, 1, 32));
        // an int overflow of the long side must not slip through
        assertThrows(ResizeTooLargeException.class, () -> CpuViewTransform.checkResizedSize(2_000_000_000, 1, 224));
        // 89,478,485 / 32 = 2,796,202 px long after the resize is the largest accepted
        assertDoesNotThrow(() -> CpuViewTransform.checkResizedSize(2_796_202, 32, 32));
        assertThrows(ResizeTooLargeException.class, () -> CpuViewTransform.checkResizedSize(2_796_203, 32, 32));
        assertDoesNotThrow(() -> CpuViewTransform.checkResizedSize(1000, 700, 32));
        assertDoesNotThrow(() -> CpuViewTransform.checkResizedSize(1, 50, 32));
    }

    @Test
    void ordinaryImagesStillResize() {
        RgbImage img = new RgbImage(500, 3, new byte[500 * 3 * 3]);
        assertDoesNotThrow(() -> eval32().apply(img, new SplittableRandom(0), new float[3 * 32 * 32], 0));
    }
}
