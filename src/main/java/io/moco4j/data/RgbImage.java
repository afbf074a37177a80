package io.moco4j.data;

/**
 * An 8-bit RGB image stored interleaved (HWC): pixel (y, x) channel c is at {@code (y * width + x) * 3 + c}.
 * This mirrors a PIL "RGB" image, which is what torchvision's augmentations operate on.
 */
public record RgbImage(int width, int height, byte[] pixels) {
    public RgbImage {
        if (pixels.length != width * height * 3) {
            throw new IllegalArgumentException("expected " + width * height * 3 + " bytes, got " + pixels.length);
        }
    }

    public int get(int x, int y, int c) {
        return pixels[(y * width + x) * 3 + c] & 0xff;
    }
}
