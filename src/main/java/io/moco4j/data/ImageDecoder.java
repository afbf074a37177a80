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
import java.util.HashMap;
import java.util.Map;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes an image file into 8-bit RGB the way PIL's {@code Image.open(f).convert("RGB")} does, with ImageIO and
 * the TwelveMonkeys plugins (CMYK/YCCK and progressive JPEG, BMP variants), and then honours the EXIF orientation
 * tag (which torchvision's default loader does not; we do, because phone photos are otherwise sideways).
 *
 * <p>Conversion rules (PIL's): grey is replicated into R, G and B; alpha is dropped, not composited over a
 * background (a transparent pixel keeps its stored colour); palettes are looked up; CMYK/YCCK JPEGs are converted by
 * TwelveMonkeys, which without an embedded ICC profile uses PIL's formula {@code R = (255 - C) * (255 - K) / 255}
 * (exact match), and with one converts through that profile (PIL ignores it; colours then differ slightly from
 * PIL's and are closer to what image viewers show); 16-bit samples keep their high
 * byte, as PIL does for 16-bit RGB PNGs. Deviation: PIL clips 16-bit <em>grey</em> to 0..255 (almost everything
 * turns white); we take the high byte there too, so the picture survives.
 *
 * <p>Thread-safe: every call uses its own reader.
 */
public final class ImageDecoder {

    /**
     * Default pixel limit: PIL's {@code Image.MAX_IMAGE_PIXELS} (89,478,485, about 256 MB as RGB), above which PIL
     * warns of a decompression bomb (it refuses at twice that). Far above real photos; far below what exhausts a heap.
     */
    public static final long DEFAULT_MAX_PIXELS = 89_478_485L;

    /** Files larger than this are refused before being read (a bomb need not be small, and readAllBytes is one array). */
    static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 64;

    private static volatile long maxPixels = initialMaxPixels();

    private ImageDecoder() {}

    private static long initialMaxPixels() {
        String v = System.getProperty("moco4j.max_pixels", System.getenv("MOCO4J_MAX_PIXELS"));
        if (v == null || v.isBlank()) {
            return DEFAULT_MAX_PIXELS;
        }
        try {
            long n = Long.parseLong(v.trim().replace("_", ""));
            return n > 0 ? n : DEFAULT_MAX_PIXELS;
        } catch (NumberFormatException e) {
            return DEFAULT_MAX_PIXELS;
        }
    }

    /**
     * Images whose header declares more than {@code pixels} (width x height) are refused before any pixel
     * buffer is allocated ({@code data.max_pixels}; also {@code -Dmoco4j.max_pixels} or {@code MOCO4J_MAX_PIXELS}).
     */
    public static void setMaxPixels(long pixels) {
        if (pixels < 1) {
            throw new IllegalArgumentException("pixel limit must be positive, got " + pixels);
        }
        maxPixels = pixels;
    }

    public static long maxPixels() {
        return maxPixels;
    }

    static {
        // Make sure the TwelveMonkeys readers are registered even in class loaders where the service scan ran early.
        ImageIO.scanForPlugins();
        ImageIO.setUseCache(false); // decode from memory, never through temporary files
    }

    /** Reads and decodes {@code file}; any problem (unreadable, not an image, truncated) is an {@link IOException}. */
    public static RgbImage decode(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_FILE_BYTES) {
            throw new UnreadableImageException(file.toString(), "file of " + size + " bytes is too large to be an image we decode");
        }
        byte[] bytes = Files.readAllBytes(file);
        return decode(bytes, file.toString());
    }

    /** Decodes an encoded image held in memory; {@code name} is used in error messages. */
    public static RgbImage decode(byte[] bytes, String name) throws IOException {
        return decode(bytes, name, Long.MAX_VALUE);
    }

    /**
     * As {@link #decode(byte[], String)}, refusing images of more than {@code maxPixels} pixels before their
     * pixels are decoded (the header is read first), so a small upload cannot make a huge raster.
     *
     * @throws ImageTooLargeException when the image is larger than {@code maxPixels}
     */
    public static RgbImage decode(byte[] bytes, String name, long maxPixels) throws IOException {
        if (bytes.length == 0) {
            throw new UnreadableImageException(name, "empty file (0 bytes)");
        }
        RgbImage upright;
        try {
            upright = ExifOrientation.apply(toRgb(read(bytes, name, maxPixels)), ExifOrientation.read(bytes));
        } catch (UnreadableImageException | ImageTooLargeException e) {
            throw e;
        } catch (OutOfMemoryError e) {
            // Within the pixel limit but still too big for this heap (e.g. several loader threads at once).
            throw new UnreadableImageException(name, "out of memory while decoding (" + e.getMessage()
                    + "); lower data.max_pixels or give the JVM more heap");
        } catch (IOException | RuntimeException e) {
            // ImageIO plugins signal damaged data with all kinds of exceptions (IIOException, IndexOutOfBounds,
            // IllegalArgumentException...): they all mean "this file cannot be decoded".
            throw new UnreadableImageException(name, describe(e), e);
        }
        return upright;
    }

    /**
     * Readers cached per thread: looking a reader up through the ImageIO registry and creating it costs more than
     * decoding a small JPEG. Keyed by format; a thread's readers die with the (daemon) loader thread.
     */
    private static final ThreadLocal<Map<String, List<ImageReader>>> READERS = ThreadLocal.withInitial(HashMap::new);

    private static BufferedImage read(byte[] bytes, String name, long maxPixels) throws IOException {
        List<ImageReader> candidates = readersFor(bytes);
        if (candidates.isEmpty()) {
            throw new UnreadableImageException(name, "not a supported image format (jpg/png/bmp/gif)");
        }
        IOException firstFailure = null;
        RuntimeException firstBug = null;
        boolean jpeg = ExifOrientation.isJpeg(bytes); // then every candidate is a JPEG reader
        for (int i = 0; i < candidates.size(); i++) {
            ImageReader reader = candidates.get(i);
            try {
                return readWith(reader, bytes, name, maxPixels);
            } catch (UnreadableImageException | ImageTooLargeException e) {
                throw e; // a truncated file stays truncated whatever the reader
            } catch (IOException e) {
                firstFailure = firstFailure == null ? e : firstFailure;
            } catch (RuntimeException e) {
                firstBug = firstBug == null ? e : firstBug;
            } finally {
                if (jpeg) {
                    // JPEG readers keep the last stream's quantization and Huffman tables (neither reset() nor
                    // setInput clears them), so a JPEG missing its own would decode with another file's: each
                    // JPEG gets a fresh reader (cheap next to a registry look-up; DecoderStateTest)
                    candidates.set(i, fresh(reader));
                }
            }
        }
        if (firstFailure != null) {
            throw firstFailure;
        }
        throw firstBug;
    }

    /**
     * JPEG: the JDK's own reader first (several times faster on small files), then TwelveMonkeys', which also
     * handles what the JDK rejects (CMYK/YCCK, broken ICC profiles or metadata). Other formats: by file signature.
     */
    private static List<ImageReader> readersFor(byte[] b) throws IOException {
        String format;
        if (ExifOrientation.isJpeg(b)) {
            int components = jpegComponents(b);
            // The JDK reader silently mis-decodes 4-component (CMYK/YCCK) JPEGs: leave those to TwelveMonkeys.
            format = components == 1 || components == 3 ? "jpeg" : "jpeg-cmyk";
        } else if (ExifOrientation.isPng(b)) {
            format = "png";
        } else if (b.length > 6 && b[0] == 'G' && b[1] == 'I' && b[2] == 'F' && b[3] == '8') {
            format = "gif";
        } else if (b.length > 2 && b[0] == 'B' && b[1] == 'M') {
            format = "bmp";
        } else {
            // Unknown signature: ask the registry (it may know more formats); not cached, this is the rare path.
            try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(b))) {
                Iterator<ImageReader> it = ImageIO.getImageReaders(in);
                return it.hasNext() ? new ArrayList<>(List.of(it.next())) : List.of();
            }
        }
        return READERS.get().computeIfAbsent(format, ImageDecoder::createReaders);
    }

    /**
     * All registered readers of {@code format}, the preferred first: the JDK's for 1- and 3-component JPEGs,
     * TwelveMonkeys' for everything else ("jpeg-cmyk" stands for 4-component JPEGs).
     */
    private static List<ImageReader> createReaders(String format) {
        boolean jdkFirst = format.equals("jpeg");
        String registryName = format.startsWith("jpeg") ? "jpeg" : format;
        List<ImageReader> preferred = new ArrayList<>(2);
        List<ImageReader> others = new ArrayList<>(2);
        for (Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(registryName); it.hasNext(); ) {
            ImageReader reader = it.next();
            boolean jdk = reader.getClass().getName().startsWith("com.sun.");
            (jdk == jdkFirst ? preferred : others).add(reader);
        }
        preferred.addAll(others);
        return preferred; // one list per thread; read() swaps used JPEG readers for fresh ones
    }

    /** A plugin's failure as a reason; several throw a bare EOFException for a file cut short. */
    static String describe(Exception e) {
        if (e instanceof java.io.EOFException && e.getMessage() == null) {
            return "the file ends before the image does (truncated)";
        }
        return e.getClass().getSimpleName() + ": " + (e.getMessage() == null ? "damaged data" : e.getMessage());
    }

    /** A new reader from the same plugin; the used one is disposed. */
    private static ImageReader fresh(ImageReader used) {
        try {
            ImageReader next = used.getOriginatingProvider().createReaderInstance();
            used.dispose();
            return next;
        } catch (IOException | RuntimeException e) {
            return used; // keep the old one rather than lose the format
        }
    }

    /** Number of colour components in the first start-of-frame segment of a JPEG, or -1 if none is found. */
    static int jpegComponents(byte[] b) {
        int pos = 2;
        while (pos + 9 < b.length) {
            if ((b[pos] & 0xff) != 0xFF) {
                return -1;
            }
            int marker = b[pos + 1] & 0xff;
            if (marker == 0xFF) {
                pos++;
                continue;
            }
            boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (sof) {
                return b[pos + 9] & 0xff;
            }
            if (marker == 0xDA || marker == 0xD9) {
                return -1;
            }
            pos += 2 + (((b[pos + 2] & 0xff) << 8) | (b[pos + 3] & 0xff));
        }
        return -1;
    }

    private static BufferedImage readWith(ImageReader reader, byte[] bytes, String name, long maxPixels) throws IOException {
        List<String> warnings = new ArrayList<>();
        IIOReadWarningListener listener = (source, warning) -> warnings.add(warning);
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            reader.addIIOReadWarningListener(listener);
            if (maxPixels != Long.MAX_VALUE) {
                long pixels = (long) reader.getWidth(0) * reader.getHeight(0);
                if (pixels > maxPixels) {
                    throw new ImageTooLargeException(name, reader.getWidth(0), reader.getHeight(0), maxPixels);
                }
            }
            checkPixels(reader, name);
            BufferedImage image = reader.read(0);
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
            reader.removeIIOReadWarningListener(listener);
            reader.setInput(null);
        }
    }

    /**
     * Reads only the header's size and refuses images above the pixel limit (decompression bombs: a few KB
     * declaring 100,000 x 100,000 pixels) before the reader allocates the raster.
     */
    private static void checkPixels(ImageReader reader, String name) throws IOException {
        long w = reader.getWidth(0);
        long h = reader.getHeight(0);
        if (w < 1 || h < 1) {
            throw new UnreadableImageException(name, "declares an empty size " + w + " x " + h);
        }
        long limit = maxPixels;
        if (w * h > limit) {
            throw new UnreadableImageException(name, String.format(Locale.ROOT,
                    "declares %d x %d = %,d pixels, above the limit of %,d (a decompression bomb?); raise data.max_pixels"
                            + " if the image is genuine", w, h, w * h, limit));
        }
    }

    /** Converts any decoded image to interleaved 8-bit RGB following PIL's {@code convert("RGB")}. */
    public static RgbImage toRgb(BufferedImage image) {
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
}
