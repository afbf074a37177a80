package io.moco4j.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;

/** Hostile image files for tests and the reliability benchmark: bombs and mutations of valid files. */
public final class HostileImages {
    private HostileImages() {}

    /** A valid-looking PNG whose header claims {@code w x h} RGB pixels, with a few bytes of compressed data. */
    public static byte[] pngBomb(int w, int h) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        chunk(out, "IHDR", ihdr.array());
        Deflater d = new Deflater();
        d.setInput(new byte[64 * 1024]); // zeros: the start of the first rows
        d.finish();
        byte[] buf = new byte[4096];
        int n = d.deflate(buf);
        byte[] idat = new byte[n];
        System.arraycopy(buf, 0, idat, 0, n);
        chunk(out, "IDAT", idat);
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    /** A small real JPEG whose start-of-frame is patched to claim {@code w x h} (at most 65535 each). */
    public static byte[] jpegBomb(int w, int h) throws IOException {
        byte[] b = encode(noise(16, 16, 1), "jpg");
        for (int i = 2; i + 8 < b.length; i++) {
            if ((b[i] & 0xff) == 0xFF && (b[i + 1] & 0xff) == 0xC0) {
                b[i + 5] = (byte) (h >> 8);
                b[i + 6] = (byte) h;
                b[i + 7] = (byte) (w >> 8);
                b[i + 8] = (byte) w;
                return b;
            }
        }
        throw new IllegalStateException("no SOF0 marker in the test JPEG");
    }

    /** An animated GIF of {@code frames} tiny frames (a few bytes each). */
    public static byte[] manyFrameGif(int frames) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("GIF89a".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(new byte[] {8, 0, 8, 0, (byte) 0x80, 0, 0}); // 8x8, global colour table of 2
        out.writeBytes(new byte[] {0, 0, 0, (byte) 255, (byte) 255, (byte) 255});
        for (int f = 0; f < frames; f++) {
            out.writeBytes(new byte[] {0x21, (byte) 0xF9, 4, 0, 1, 0, 0, 0}); // graphic control: 10 ms
            out.writeBytes(new byte[] {0x2C, 0, 0, 0, 0, 8, 0, 8, 0, 0}); // image descriptor 8x8
            out.writeBytes(new byte[] {2, 2, 0x4C, 0x01, 0}); // LZW min code 2, one sub-block: clear, 0, end
        }
        out.write(0x3B);
        return out.toByteArray();
    }

    public static BufferedImage noise(int w, int h, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        return img;
    }

    public static byte[] encode(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(img, format, out)) {
            throw new IllegalStateException("no writer for " + format);
        }
        return out.toByteArray();
    }

    /** One mutation of a valid file: truncation, bit flips, zeroed or random runs, or an empty file. */
    public static byte[] mutate(byte[] valid, SplittableRandom r) {
        byte[] b = valid.clone();
        switch (r.nextInt(6)) {
            case 0 -> {
                return java.util.Arrays.copyOf(b, r.nextInt(Math.max(1, b.length)));
            }
            case 1 -> {
                int flips = 1 + r.nextInt(8);
                for (int i = 0; i < flips; i++) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 2 -> {
                int at = r.nextInt(b.length);
                java.util.Arrays.fill(b, at, Math.min(b.length, at + 1 + r.nextInt(64)), (byte) 0);
            }
            case 3 -> {
                int at = r.nextInt(b.length);
                for (int i = at; i < Math.min(b.length, at + 1 + r.nextInt(32)); i++) {
                    b[i] = (byte) r.nextInt(256);
                }
            }
            case 4 -> {
                return new byte[0];
            }
            default -> {
                // header fields: bytes 12..30 hold PNG's IHDR and most of a JPEG's first segments
                for (int i = 0; i < 4; i++) {
                    b[Math.min(b.length - 1, 12 + r.nextInt(20))] = (byte) r.nextInt(256);
                }
            }
        }
        return b;
    }
}
