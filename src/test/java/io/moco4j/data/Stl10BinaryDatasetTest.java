package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * STL-10 binaries made here in the distribution's layout (the official stl10_input.py reads an image as
 * {@code reshape(3, 96, 96)} then {@code transpose(2, 1, 0)}: each channel is stored column by column).
 */
class Stl10BinaryDatasetTest {
    private static final int SIDE = 96;

    /** Pixel value at column x, row y, channel c of image {@code id}: different when x and y swap. */
    static int pixel(int id, int x, int y, int c) {
        return (id * 11 + c * 60 + y * 5 + x) & 0xff;
    }

    /** One image in STL-10's order: channel, then column (x), then row (y) fastest. */
    static byte[] image(int id) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < SIDE; x++) {
                for (int y = 0; y < SIDE; y++) {
                    out.write(pixel(id, x, y, c));
                }
            }
        }
        return out.toByteArray();
    }

    static void write(Path file, byte[]... parts) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.write(p);
        }
        Files.write(file, out.toByteArray());
    }

    private static void assertImage(RgbImage img, int id) {
        assertEquals(SIDE, img.width());
        assertEquals(SIDE, img.height());
        for (int[] p : new int[][] {{0, 0}, {95, 0}, {0, 95}, {7, 40}, {40, 7}, {95, 95}}) {
            for (int c = 0; c < 3; c++) {
                assertEquals(pixel(id, p[0], p[1], c), img.get(p[0], p[1], c), "image " + id + " at x " + p[0] + ", y " + p[1]);
            }
        }
    }

    @Test
    void trainTestAndUnlabeledPartsReadWithTheirLabelsAndColumnOrder(@TempDir Path dir) throws Exception {
        Path stl = Files.createDirectories(dir.resolve("stl10_binary"));
        write(stl.resolve("train_X.bin"), image(0), image(1), image(2));
        Files.write(stl.resolve("train_y.bin"), new byte[] {1, 10, 3});
        write(stl.resolve("test_X.bin"), image(3), image(4));
        Files.write(stl.resolve("test_y.bin"), new byte[] {2, 2});
        write(stl.resolve("unlabeled_X.bin"), image(5), image(6), image(7), image(8));

        ImageDataset train = DataSources.open(dir.toString(), DataSplit.TRAIN, false, false); // the parent folder works too
        assertEquals(3, train.size());
        assertEquals(List.of(0, 9, 2), List.of(train.label(0), train.label(1), train.label(2)), "labels 1..10 become 0..9");
        assertEquals("airplane", train.classes().get(0));
        assertEquals("truck", train.classes().get(9));
        for (int i = 0; i < 3; i++) {
            assertImage(train.load(i), i);
        }

        ImageDataset test = DataSources.open(stl.toString(), DataSplit.TEST, false, false);
        assertEquals(2, test.size());
        assertEquals(1, test.label(1));
        assertImage(test.load(1), 4);

        ImageDataset unlabeled = DataSources.open(stl.resolve("unlabeled_X.bin").toString(), DataSplit.TRAIN, false, false);
        assertEquals(4, unlabeled.size());
        assertFalse(unlabeled.isLabeled());
        assertEquals(ImageDataset.UNLABELED, unlabeled.label(3));
        assertImage(unlabeled.load(3), 8);
    }

    /** A single bright pixel at column 60, row 3: read row-major, it would land at column 3, row 60. */
    @Test
    void anAsymmetricImageIsNotTransposed(@TempDir Path dir) throws Exception {
        byte[] img = new byte[3 * SIDE * SIDE];
        int x = 60;
        int y = 3;
        img[SIDE * SIDE + x * SIDE + y] = (byte) 200; // green channel, column-major
        write(dir.resolve("unlabeled_X.bin"), img);
        RgbImage got = DataSources.open(dir.resolve("unlabeled_X.bin").toString(), DataSplit.TRAIN, false, false).load(0);
        assertEquals(200, got.get(x, y, 1));
        assertEquals(0, got.get(y, x, 1));
        assertEquals(0, got.get(x, y, 0));
    }

    @Test
    void truncatedAndMismatchedFilesFailInOneLine(@TempDir Path dir) throws Exception {
        write(dir.resolve("train_X.bin"), image(0), new byte[100]);
        Files.write(dir.resolve("train_y.bin"), new byte[] {1});
        assertOneLine(() -> DataSources.open(dir.toString(), DataSplit.TRAIN, false, false), "truncated");

        write(dir.resolve("train_X.bin"), image(0), image(1));
        assertOneLine(() -> DataSources.open(dir.toString(), DataSplit.TRAIN, false, false), "1 labels for 2 images");

        Files.write(dir.resolve("train_y.bin"), new byte[] {1, 0});
        assertOneLine(() -> DataSources.open(dir.toString(), DataSplit.TRAIN, false, false), "labels are 1 to 10");

        assertOneLine(() -> DataSources.open(dir.toString(), DataSplit.TEST, false, false), "no test_X.bin");
    }

    private static void assertOneLine(org.junit.jupiter.api.function.Executable call, String part) {
        UserException e = assertThrows(UserException.class, call);
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
