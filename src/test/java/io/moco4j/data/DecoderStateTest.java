package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.Test;

/**
 * The decoder reuses its readers per thread; a reader must not carry anything from one file to the next. The JDK's
 * JPEG reader keeps the tables of the last stream it read, so a damaged JPEG without its own quantization tables
 * used to decode with the previous file's: found by the hostile-image pass through serve, where such a file was
 * indexed from the folder (after other JPEGs) but refused when uploaded alone.
 */
class DecoderStateTest {
    /** The JPEG with every DQT (define quantization table) segment removed. */
    static byte[] withoutQuantizationTables(byte[] jpeg) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, 2); // SOI
        int pos = 2;
        while (pos + 4 <= jpeg.length) {
            int marker = jpeg[pos + 1] & 0xff;
            if (marker == 0xDA) { // start of scan: the rest is entropy-coded data
                out.write(jpeg, pos, jpeg.length - pos);
                break;
            }
            int length = ((jpeg[pos + 2] & 0xff) << 8) | (jpeg[pos + 3] & 0xff);
            if (marker != 0xDB) {
                out.write(jpeg, pos, 2 + length);
            }
            pos += 2 + length;
        }
        return out.toByteArray();
    }

    @Test
    void aJpegWithoutTablesIsUnreadableWhateverWasDecodedBefore() throws Exception {
        byte[] good = HostileImages.encode(HostileImages.noise(24, 16, 3), "jpg");
        byte[] damaged = withoutQuantizationTables(HostileImages.encode(HostileImages.noise(24, 16, 4), "jpg"));
        // a fresh thread: no reader has seen another file
        Thread fresh = new Thread(() -> assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(damaged, "alone")));
        Throwable[] failure = new Throwable[1];
        fresh.setUncaughtExceptionHandler((t, e) -> failure[0] = e);
        fresh.start();
        fresh.join();
        assertEquals(null, failure[0], "the damaged JPEG alone must be unreadable (test premise)");
        // this thread: the same file right after an intact JPEG
        assertEquals(24, ImageDecoder.decode(good, "good").width());
        assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(damaged, "after a good one"),
                "a reader must not lend the previous file's tables");
        assertThrows(UnreadableImageException.class, () -> ImageDecoder.decode(damaged, "after a good one", 40_000_000L));
    }
}
