package io.moco4j.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;

/**
 * Decodes an image file into 8-bit RGB the way PIL's {@code Image.open(f).convert("RGB")} does, with ImageIO and
 * the TwelveMonkeys plugins (CMYK/YCCK and progressive JPEG, BMP variants), and then honours the EXIF orientation
 * tag (which torchvision's default loader does not; we do, because phone photos are otherwise sideways).
 *
 * <p>Conversion rules (PIL's): grey is replicated into R, G and B; alpha is dropped, not composited over a
 * background (a transparent pixel keeps its stored colour); palettes are looked up; CMYK becomes
 * {@code R = (255 - C) * (255 - K) / 255} (PIL's naive formula, no ICC profile); 16-bit samples keep their high
 * byte, as PIL does for 16-bit RGB PNGs. Deviation: PIL clips 16-bit <em>grey</em> to 0..255 (almost everything
 * turns white); we take the high byte there too, so the picture survives.
 *
 * <p>Thread-safe: every call uses its own reader.
 */
public final class ImageDecoder {

    private ImageDecoder() {}

    static {
        // Make sure the TwelveMonkeys readers are registered even in class loaders where the service scan ran early.
        ImageIO.scanForPlugins();
        ImageIO.setUseCache(false); // decode from memory, never through temporary files
    }

    /** Reads and decodes {@code file}; any problem (unreadable, not an image, truncated) is an {@link IOException}. */
    public static RgbImage decode(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        return decode(bytes, file.toString());
    }

    /** Decodes an encoded image held in memory; {@code name} is used in error messages. */
    public static RgbImage decode(byte[] bytes, String name) throws IOException {
        if (bytes.length == 0) {
            throw new UnreadableImageException(name, "empty file (0 bytes)");
        }
        RgbImage upright;
        try {
            upright = ExifOrientation.apply(toRgb(read(bytes, name)), ExifOrientation.read(bytes));
        } catch (UnreadableImageException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // ImageIO plugins signal damaged data with all kinds of exceptions (IIOException, IndexOutOfBounds,
            // IllegalArgumentException...): they all mean "this file cannot be decoded".
            throw new UnreadableImageException(name, e.getClass().getSimpleName() + ": " + e.getMessage(), e);
        }
        return upright;
    }

    private static BufferedImage read(byte[] bytes, String name) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new UnreadableImageException(name, "not a supported image format (jpg/png/bmp/gif)");
            }
            ImageReader reader = readers.next();
            List<String> warnings = new ArrayList<>();
            try {
                reader.setInput(in, true, true);
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                ImageReadParam param = reader.getDefaultReadParam();
                ImageTypeSpecifier cmyk = rawCmykType(reader);
                if (cmyk != null) {
                    param.setDestinationType(cmyk); // keep CMYK samples so we can convert them as PIL does
                }
                BufferedImage image = reader.read(0, param);
                for (String w : warnings) {
                    String lower = w.toLowerCase(Locale.ROOT);
                    // libjpeg only *warns* about a file that ends early and fills the rest with grey; PIL refuses
                    // such files ("image file is truncated"), and so do we.
                    if (lower.contains("premature end") || lower.contains("truncat")) {
                        throw new UnreadableImageException(name, "truncated image (" + w + ")");
                    }
                }
                return image;
            } finally {
                reader.dispose();
            }
        }
    }

    /** The CMYK destination type offered by TwelveMonkeys' JPEG reader for CMYK/YCCK files, else null. */
    private static ImageTypeSpecifier rawCmykType(ImageReader reader) throws IOException {
        if (!reader.getFormatName().toLowerCase(Locale.ROOT).contains("jp")) {
            return null;
        }
        Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
        while (types.hasNext()) {
            ImageTypeSpecifier t = types.next();
            if (t.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_CMYK) {
                return t;
            }
        }
        return null;
    }

    /** Converts any decoded image to interleaved 8-bit RGB following PIL's {@code convert("RGB")}. */
    static RgbImage toRgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        byte[] out = new byte[w * h * 3];
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        if (cm instanceof IndexColorModel icm) {
            int n = icm.getMapSize();
            int[] rgb = new int[n];
            icm.getRGBs(rgb);
            int[] idx = new int[w];
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, idx);
                for (int x = 0; x < w; x++) {
                    int c = idx[x] < n ? rgb[idx[x]] : 0;
                    int o = (y * w + x) * 3;
                    out[o] = (byte) (c >> 16);
                    out[o + 1] = (byte) (c >> 8);
                    out[o + 2] = (byte) c;
                }
            }
            return new RgbImage(w, h, out);
        }
        if (cm instanceof ComponentColorModel) {
            int space = cm.getColorSpace().getType();
            int shift = Math.max(0, cm.getComponentSize(0) - 8);
            boolean floating = raster.getDataBuffer().getDataType() == DataBuffer.TYPE_FLOAT
                    || raster.getDataBuffer().getDataType() == DataBuffer.TYPE_DOUBLE;
            if (!floating && space == ColorSpace.TYPE_GRAY) {
                int[] g = new int[w];
                for (int y = 0; y < h; y++) {
                    raster.getSamples(0, y, w, 1, 0, g);
                    for (int x = 0; x < w; x++) {
                        byte v = (byte) (g[x] >> shift);
                        int o = (y * w + x) * 3;
                        out[o] = v;
                        out[o + 1] = v;
                        out[o + 2] = v;
                    }
                }
                return new RgbImage(w, h, out);
            }
            if (!floating && space == ColorSpace.TYPE_RGB && raster.getNumBands() >= 3) {
                int[] px = new int[raster.getNumBands()];
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        raster.getPixel(x, y, px); // band order is R, G, B[, A] whatever the byte layout
                        int o = (y * w + x) * 3;
                        out[o] = (byte) (px[0] >> shift);
                        out[o + 1] = (byte) (px[1] >> shift);
                        out[o + 2] = (byte) (px[2] >> shift);
                    }
                }
                return new RgbImage(w, h, out);
            }
            if (!floating && space == ColorSpace.TYPE_CMYK && raster.getNumBands() >= 4) {
                int[] px = new int[raster.getNumBands()];
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        raster.getPixel(x, y, px);
                        int k = 255 - (px[3] >> shift);
                        int o = (y * w + x) * 3;
                        out[o] = (byte) mulDiv255(255 - (px[0] >> shift), k);
                        out[o + 1] = (byte) mulDiv255(255 - (px[1] >> shift), k);
                        out[o + 2] = (byte) mulDiv255(255 - (px[2] >> shift), k);
                    }
                }
                return new RgbImage(w, h, out);
            }
        }
        // Packed RGB (BMP 565/555, TYPE_INT_RGB...) and anything exotic: let Java2D convert to sRGB.
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            image.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int c = row[x];
                int o = (y * w + x) * 3;
                out[o] = (byte) (c >> 16);
                out[o + 1] = (byte) (c >> 8);
                out[o + 2] = (byte) c;
            }
        }
        return new RgbImage(w, h, out);
    }

    /** {@code round(a * b / 255)} exactly as PIL computes it for 8-bit values. */
    static int mulDiv255(int a, int b) {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }
}
