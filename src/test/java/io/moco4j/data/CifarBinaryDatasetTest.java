package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CifarBinaryDatasetTest {
    @TempDir
    Path dir;

    /** Pixel (x, y) channel c of record {@code id}: a value we can recompute in the assertions. */
    static int pixel(int id, int x, int y, int c) {
        return (id * 7 + c * 50 + y * 3 + x) & 0xff;
    }

    /** One record: label bytes then R plane, G plane, B plane, each row by row (the CIFAR layout). */
    static byte[] record(int id, int... labelBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int l : labelBytes) {
            out.write(l);
        }
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    out.write(pixel(id, x, y, c));
                }
            }
        }
        return out.toByteArray();
    }

    static void writeRecords(Path file, byte[]... records) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] r : records) {
            out.write(r);
        }
        Files.write(file, out.toByteArray());
    }

    private static void assertImage(RgbImage img, int id) {
        assertEquals(32, img.width());
        for (int[] p : new int[][] {{0, 0}, {31, 0}, {5, 17}, {31, 31}}) {
            for (int c = 0; c < 3; c++) {
                assertEquals(pixel(id, p[0], p[1], c), img.get(p[0], p[1], c), "record " + id + " at " + p[0] + "," + p[1]);
            }
        }
    }

    @Test
    void cifar10TrainBatchesInOrderAndTestBatch() throws IOException {
        writeRecords(dir.resolve("data_batch_1.bin"), record(0, 6), record(1, 9));
        writeRecords(dir.resolve("data_batch_2.bin"), record(2, 0));
        writeRecords(dir.resolve("test_batch.bin"), record(3, 3));
        CifarBinaryDataset train = CifarBinaryDataset.open(dir, DataSplit.TRAIN);
        assertEquals(CifarBinaryDataset.Variant.CIFAR10, train.variant());
        assertEquals(3, train.size());
        assertEquals(List.of(6, 9, 0), List.of(train.label(0), train.label(1), train.label(2)));
        assertImage(train.load(0), 0);
        assertImage(train.load(2), 2);
        assertEquals("frog", train.classes().get(6), "default CIFAR-10 names");
        CifarBinaryDataset test = CifarBinaryDataset.open(dir, DataSplit.TEST);
        assertEquals(1, test.size());
        assertEquals(3, test.label(0));
        assertImage(test.load(0), 3);
    }

    @Test
    void cifar100UsesTheFineLabelAndNamesFile() throws IOException {
        writeRecords(dir.resolve("train.bin"), record(0, 4, 72), record(1, 19, 99));
        writeRecords(dir.resolve("test.bin"), record(2, 0, 5));
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            names.append("fine").append(i).append('\n');
        }
        Files.writeString(dir.resolve("fine_label_names.txt"), names + "\n");
        CifarBinaryDataset train = CifarBinaryDataset.open(dir, DataSplit.TRAIN);
        assertEquals(CifarBinaryDataset.Variant.CIFAR100, train.variant());
        assertEquals(72, train.label(0));
        assertEquals(99, train.label(1));
        assertEquals("fine72", train.classes().get(72));
        assertEquals(100, train.classes().size());
        assertImage(train.load(1), 1);
        assertEquals(5, CifarBinaryDataset.open(dir, DataSplit.TEST).label(0));
    }

    @Test
    void badSizesAndLabelsAreUserErrors() throws IOException {
        Files.write(dir.resolve("data_batch_1.bin"), new byte[3073 * 2 - 1]);
        UserException size = assertThrows(UserException.class, () -> CifarBinaryDataset.open(dir, DataSplit.TRAIN));
        assertTrue(size.getMessage().contains("data_batch_1.bin has 6145 bytes, not a multiple of the 3073-byte"), size.getMessage());

        writeRecords(dir.resolve("data_batch_1.bin"), record(0, 10));
        UserException label = assertThrows(UserException.class, () -> CifarBinaryDataset.open(dir, DataSplit.TRAIN));
        assertTrue(label.getMessage().contains("label 10"), label.getMessage());

        UserException noTest = assertThrows(UserException.class, () -> CifarBinaryDataset.open(dir, DataSplit.TEST));
        assertTrue(noTest.getMessage().contains("test_batch.bin"), noTest.getMessage());
    }
}
