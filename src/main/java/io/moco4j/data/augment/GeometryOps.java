package io.moco4j.data.augment;

import io.moco4j.data.RgbImage;

/** Crops, flips and torchvision's size rules ({@code Resize(int)}, {@code CenterCrop}) on 8-bit RGB images. */
public final class GeometryOps {
    private GeometryOps() {}

    /** The pixels of the box at ({@code left, top}) of size {@code w x h}, which must lie inside the image. */
    public static byte[] cropPixels(RgbImage src, int left, int top, int w, int h) {
        byte[] in = src.pixels();
        byte[] out = new byte[w * h * 3];
        int inStride = src.width() * 3;
        for (int y = 0; y < h; y++) {
            System.arraycopy(in, (top + y) * inStride + left * 3, out, y * w * 3, w * 3);
        }
        return out;
    }

    /** Mirrors the image left to right, in place. */
    public static void flipHorizontal(byte[] rgb, int width, int height) {
        for (int y = 0; y < height; y++) {
            int a = y * width * 3;
            int b = a + (width - 1) * 3;
            for (; a < b; a += 3, b -= 3) {
                for (int c = 0; c < 3; c++) {
                    byte t = rgb[a + c];
                    rgb[a + c] = rgb[b + c];
                    rgb[b + c] = t;
                }
            }
        }
    }

    /**
     * torchvision's output size for {@code Resize(shorter)}: the shorter side becomes {@code shorter}
     * and the longer one {@code int(shorter * long / short)} (truncated). Returns {width, height}.
     */
    public static int[] shorterSideSize(int width, int height, int shorter) {
        int shortSide = Math.min(width, height);
        int longSide = Math.max(width, height);
        int newLong = (int) ((double) ((long) shorter * longSide) / shortSide);
        return width <= height ? new int[] {shorter, newLong} : new int[] {newLong, shorter};
    }

    /**
     * torchvision's {@code F.center_crop}: pads with zeros (split as torchvision does) when the crop is larger
     * than the image, then crops at offsets {@code round((size - crop) / 2)} with Python's half-to-even rounding.
     */
    public static RgbImage centerCrop(RgbImage src, int cropW, int cropH) {
        RgbImage img = src;
        if (cropW > img.width() || cropH > img.height()) {
            int padLeft = cropW > img.width() ? (cropW - img.width()) / 2 : 0;
            int padTop = cropH > img.height() ? (cropH - img.height()) / 2 : 0;
            int padRight = cropW > img.width() ? (cropW - img.width() + 1) / 2 : 0;
            int padBottom = cropH > img.height() ? (cropH - img.height() + 1) / 2 : 0;
            img = pad(img, padLeft, padTop, padRight, padBottom);
            if (img.width() == cropW && img.height() == cropH) {
                return img;
            }
        }
        int top = (int) Math.rint((img.height() - cropH) / 2.0);
        int left = (int) Math.rint((img.width() - cropW) / 2.0);
        return new RgbImage(cropW, cropH, cropPixels(img, left, top, cropW, cropH));
    }

    private static RgbImage pad(RgbImage src, int left, int top, int right, int bottom) {
        int w = src.width() + left + right;
        int h = src.height() + top + bottom;
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < src.height(); y++) {
            System.arraycopy(src.pixels(), y * src.width() * 3, out, ((y + top) * w + left) * 3, src.width() * 3);
        }
        return new RgbImage(w, h, out);
    }
}
