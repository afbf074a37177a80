package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.*;

import io.moco4j.util.UserException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderDatasetTest {
    @TempDir
    Path dir;

    /** Writes a solid w x h image of colour rgb in the format given by the file extension. */
    static Path write(Path file, int w, int h, int rgb) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb);
            }
        }
        String name = file.getFileName().toString().toLowerCase();
        String format = name.endsWith(".png") ? "png" : name.endsWith(".bmp") ? "bmp" : name.endsWith(".gif") ? "gif" : "jpg";
        assertTrue(ImageIO.write(img, format, file.toFile()), "no writer for " + format);
        return file;
    }

    private List<String> relativeNames(ImageFolderDataset ds) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < ds.size(); i++) {
            out.add(dir.relativize(ds.path(i)).toString().replace('\\', '/'));
        }
        return out;
    }

    @Test
    void classFoldersGiveSortedLabelsAndTorchvisionOrder() throws IOException {
        write(dir.resolve("dog/b.png"), 2, 2, 0x102030);
        write(dir.resolve("dog/A.PNG"), 2, 2, 0x102030);
        write(dir.resolve("dog/sub/c.jpg"), 2, 2, 0x102030);
        write(dir.resolve("dog/a_sub.bmp"), 2, 2, 0x102030);
        write(dir.resolve("cat/z.gif"), 2, 2, 0x102030);
        write(dir.resolve("cat/y.JPEG"), 2, 2, 0x102030);
        Files.writeString(dir.resolve("cat/notes.txt"), "not an image");
        write(dir.resolve("cat/.hidden.png"), 2, 2, 0);
        write(dir.resolve("stray.png"), 2, 2, 0);

        ImageFolderDataset ds = ImageFolderDataset.open(dir, false, false);
        assertEquals(List.of("cat", "dog"), ds.classes());
        // torchvision: classes sorted; inside a class sorted by (directory, file name), code point order.
        assertEquals(List.of("cat/y.JPEG", "cat/z.gif", "dog/A.PNG", "dog/a_sub.bmp", "dog/b.png", "dog/sub/c.jpg"),
                relativeNames(ds));
        assertArrayEquals(new int[] {0, 0, 1, 1, 1, 1}, java.util.stream.IntStream.range(0, 6).map(ds::label).toArray());
        assertTrue(ds.isLabeled());
        RgbImage img = ds.load(4);
        assertEquals(0x10, img.get(1, 1, 0));
        assertEquals(0x20, img.get(1, 1, 1));
        assertEquals(0x30, img.get(1, 1, 2));
    }

    @Test
    void flatFolderAndUnlabeledGiveUnlabeledImages() throws IOException {
        write(dir.resolve("flat/2.png"), 2, 2, 0);
        write(dir.resolve("flat/1.png"), 2, 2, 0);
        ImageFolderDataset flat = ImageFolderDataset.open(dir.resolve("flat"), false, false);
        assertEquals(2, flat.size());
        assertFalse(flat.isLabeled());
        assertEquals(ImageDataset.UNLABELED, flat.label(0));
        assertTrue(flat.describe(0).endsWith("1.png"));

        write(dir.resolve("tree/a/x.png"), 2, 2, 0);
        write(dir.resolve("tree/b/deeper/y.png"), 2, 2, 0);
        write(dir.resolve("tree/top.png"), 2, 2, 0);
        ImageFolderDataset all = ImageFolderDataset.open(dir.resolve("tree"), true, false);
        assertEquals(3, all.size(), "unlabeled takes every image, recursively, including the root's");
        assertEquals(List.of(), all.classes());
        assertEquals(ImageDataset.UNLABELED, all.label(2));
    }

    @Test
    void missingOrEmptyFoldersExplainTheFix() throws IOException {
        UserException missing = assertThrows(UserException.class,
                () -> ImageFolderDataset.open(dir.resolve("nope"), false, false));
        assertTrue(missing.getMessage().contains("does not exist") && missing.getMessage().contains("--data"),
                missing.getMessage());
        Files.createDirectories(dir.resolve("empty/classA"));
        Files.writeString(dir.resolve("empty/readme.txt"), "x");
        UserException empty = assertThrows(UserException.class,
                () -> ImageFolderDataset.open(dir.resolve("empty"), false, false));
        assertEquals(dir.resolve("empty") + " contains no images (jpg/jpeg/png/bmp/gif); point --data at a folder of images",
                empty.getMessage());
    }
}
