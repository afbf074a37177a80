package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.data.UnreadableImageException;
import io.moco4j.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** embed skips images it cannot decode, counts them, and writes exactly the rows it has (header fixed up). */
class EmbedSkipsUnreadableTest {
    @Test
    void unreadableImagesAreSkippedAndCounted(@TempDir Path tmp) throws IOException {
        int n = 11; // 11 announced, 8 written: the header's row count loses a digit
        int[][] colours = new int[n][];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            colours[i] = new int[] {10 * i, 255 - 10 * i, 3 * i};
            labels[i] = i % 2;
        }
        ImageDataset good = ToyData.solid(colours, labels, List.of("a", "b"));
        Set<Integer> bad = Set.of(1, 4, 5);
        ImageDataset mixed = new ImageDataset() {
            @Override public int size() { return n; }
            @Override public RgbImage load(int i) throws IOException {
                if (bad.contains(i)) {
                    throw new UnreadableImageException(describe(i), "declares 100000 x 100000 pixels (test)");
                }
                return good.load(i);
            }
            @Override public int label(int i) { return good.label(i); }
            @Override public List<String> classes() { return good.classes(); }
            @Override public String describe(int i) { return good.describe(i); }
        };
        try (NDManager m = NDManager.newBaseManager()) {
            // batch 3: one batch loses one image, one loses two, none is empty-handed
            Embedder.Result r = Embedder.run(mixed, ToyData.toTensor(), ToyData::meanPool, FeatureLayer.BACKBONE, 3, m, tmp, "emb");
            assertEquals(8, r.rows());
            assertEquals(3, r.skipped());
        }
        Npy.NpyArray a = Npy.read(tmp.resolve("emb.npy"));
        assertArrayEquals(new long[] {8, 3}, a.shape());
        float[] v = a.toFloatArray();
        int[] kept = {0, 2, 3, 6, 7, 8, 9, 10};
        for (int row = 0; row < kept.length; row++) {
            assertEquals(colours[kept[row]][0] / 255f, v[row * 3], 1e-6, "row " + row + " is image " + kept[row]);
        }
        assertEquals(List.of("toy/img_0.png", "toy/img_2.png", "toy/img_3.png", "toy/img_6.png", "toy/img_7.png",
                "toy/img_8.png", "toy/img_9.png", "toy/img_10.png"), Files.readAllLines(tmp.resolve("emb.txt")));
        assertArrayEquals(new long[] {0, 0, 1, 0, 1, 0, 1, 0}, Npy.read(tmp.resolve("emb.labels.npy")).toLongArray());
    }
}
