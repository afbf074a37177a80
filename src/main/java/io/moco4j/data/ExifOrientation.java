package io.moco4j.data;

/**
 * Reads the EXIF orientation tag (0x0112, values 1..8) from the raw bytes of a JPEG (APP1 "Exif" segment) or
 * PNG ({@code eXIf} chunk). A small parser of our own: we only need one tag of IFD0 and must never fail on
 * damaged metadata, so anything unexpected simply means "no rotation" (1).
 */
final class ExifOrientation {
    static final int NORMAL = 1;

    private ExifOrientation() {}

    static int read(byte[] file) {
        try {
            if (isJpeg(file)) {
                return fromJpeg(file);
            }
            if (isPng(file)) {
                return fromPng(file);
            }
        } catch (RuntimeException damagedMetadata) {
            // Broken metadata must not make a decodable image unreadable: treat it as unrotated.
        }
        return NORMAL;
    }

    static boolean isJpeg(byte[] b) {
        return b.length > 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8;
    }

    static boolean isPng(byte[] b) {
        return b.length > 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G';
    }

    private static int fromJpeg(byte[] b) {
        int pos = 2;
        while (pos + 4 <= b.length) {
            if ((b[pos] & 0xff) != 0xFF) {
                return NORMAL;
            }
            int marker = b[pos + 1] & 0xff;
            if (marker == 0xFF) { // fill byte
                pos++;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) { // start of scan / end of image: no more metadata
                return NORMAL;
            }
            int length = u16(b, pos + 2, true);
            int data = pos + 4;
            if (marker == 0xE1 && length >= 8 && data + 6 <= b.length
                    && b[data] == 'E' && b[data + 1] == 'x' && b[data + 2] == 'i' && b[data + 3] == 'f'
                    && b[data + 4] == 0 && b[data + 5] == 0) {
                return fromTiff(b, data + 6, Math.min(b.length, pos + 2 + length));
            }
            pos += 2 + length;
        }
        return NORMAL;
    }

    private static int fromPng(byte[] b) {
        int pos = 8;
        while (pos + 8 <= b.length) {
            int length = (int) u32(b, pos, true);
            String type = new String(b, pos + 4, 4, java.nio.charset.StandardCharsets.ISO_8859_1);
            int data = pos + 8;
            if (length < 0 || data + length > b.length) {
                return NORMAL;
            }
            if (type.equals("eXIf")) {
                return fromTiff(b, data, data + length);
            }
            if (type.equals("IDAT") || type.equals("IEND")) {
                return NORMAL; // eXIf must come before the image data to be honoured (as PIL does at open)
            }
            pos = data + length + 4; // skip CRC
        }
        return NORMAL;
    }

    /** Parses a TIFF header at {@code start} and looks up tag 0x0112 in IFD0. */
    private static int fromTiff(byte[] b, int start, int end) {
        if (start + 8 > end) {
            return NORMAL;
        }
        boolean bigEndian;
        if (b[start] == 'M' && b[start + 1] == 'M') {
            bigEndian = true;
        } else if (b[start] == 'I' && b[start + 1] == 'I') {
            bigEndian = false;
        } else {
            return NORMAL;
        }
        long ifd = u32(b, start + 4, bigEndian);
        int pos = start + (int) ifd;
        if (ifd < 8 || pos + 2 > end) {
            return NORMAL;
        }
        int count = u16(b, pos, bigEndian);
        for (int i = 0; i < count; i++) {
            int entry = pos + 2 + 12 * i;
            if (entry + 12 > end) {
                return NORMAL;
            }
            if (u16(b, entry, bigEndian) == 0x0112) {
                int value = u16(b, entry + 8, bigEndian); // SHORT, stored left-justified in the value field
                return value >= 1 && value <= 8 ? value : NORMAL;
            }
        }
        return NORMAL;
    }

    private static int u16(byte[] b, int pos, boolean bigEndian) {
        int a = b[pos] & 0xff;
        int c = b[pos + 1] & 0xff;
        return bigEndian ? (a << 8) | c : (c << 8) | a;
    }

    private static long u32(byte[] b, int pos, boolean bigEndian) {
        long hi = u16(b, bigEndian ? pos : pos + 2, bigEndian);
        long lo = u16(b, bigEndian ? pos + 2 : pos, bigEndian);
        return (hi << 16) | lo;
    }

    /**
     * Applies an EXIF orientation to an interleaved RGB image, giving the upright image (what PIL's
     * {@code ImageOps.exif_transpose} produces).
     */
    static RgbImage apply(RgbImage src, int orientation) {
        if (orientation <= NORMAL || orientation > 8) {
            return src;
        }
        int w = src.width();
        int h = src.height();
        boolean swap = orientation >= 5; // 5..8 transpose the axes
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        byte[] in = src.pixels();
        byte[] out = new byte[in.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }              // mirror horizontally
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }      // rotate 180
                    case 4 -> { sx = x; sy = h - 1 - y; }              // mirror vertically
                    case 5 -> { sx = y; sy = x; }                      // transpose
                    case 6 -> { sx = y; sy = h - 1 - x; }              // rotate 90 clockwise to display
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }      // transverse
                    default -> { sx = w - 1 - y; sy = x; }             // 8: rotate 270 clockwise to display
                }
                int o = (y * ow + x) * 3;
                int s = (sy * w + sx) * 3;
                out[o] = in[s];
                out[o + 1] = in[s + 1];
                out[o + 2] = in[s + 2];
            }
        }
        return new RgbImage(ow, oh, out);
    }
}
