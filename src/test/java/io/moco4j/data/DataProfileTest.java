package io.moco4j.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sizes and colour read from headers where possible, from pixels otherwise. */
class DataProfileTest {

    static Path write(Path dir, String name, int w, int h, int type, int rgb) throws Exception {
        Files.createDirectories(dir);
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, (x + y) % 2 == 0 ? rgb : 0x404040);
            }
        }
        Path f = dir.resolve(name);
        ImageIO.write(img, name.endsWith(".png") ? "png" : "jpeg", f.toFile());
        return f;
    }

    @Test
    void headersGiveSizeAndGreynessWithoutDecoding(@TempDir Path dir) throws Exception {
        Path greyJpeg = write(dir, "a.jpg", 37, 21, BufferedImage.TYPE_BYTE_GRAY, 0x808080);
        Path greyPng = write(dir, "b.png", 12, 50, BufferedImage.TYPE_BYTE_GRAY, 0x808080);
        Path colourJpeg = write(dir, "c.jpg", 64, 48, BufferedImage.TYPE_INT_RGB, 0xff0000);
        assertEquals(37, DataProfile.fileHeader(greyJpeg).width());
        assertEquals(21, DataProfile.fileHeader(greyJpeg).height());
        assertEquals(Boolean.TRUE, DataProfile.fileHeader(greyJpeg).grey(), "a one-component JPEG");
        assertEquals(50, DataProfile.fileHeader(greyPng).height());
        assertEquals(Boolean.TRUE, DataProfile.fileHeader(greyPng).grey(), "PNG colour type 0");
        assertEquals(64, DataProfile.fileHeader(colourJpeg).width());
        assertEquals(null, DataProfile.fileHeader(colourJpeg).grey(), "three components: only the pixels can tell");
    }

    @Test
    void greyPixelsStoredAsRgbCountAsGreyAndOneColourImageDoesNot(@TempDir Path dir) throws Exception {
        for (int i = 0; i < 30; i++) {
            write(dir.resolve("grey-as-rgb"), String.format("%02d.png", i), 16, 16, BufferedImage.TYPE_INT_RGB, 0x909090);
        }
        DataProfile grey = DataProfile.read(ImageFolderDataset.open(dir.resolve("grey-as-rgb"), false, false));
        assertTrue(grey.grey(), grey.toString());
        assertEquals(16, grey.typicalWidth());
        assertFalse(grey.labeled());

        for (int i = 0; i < 30; i++) {
            write(dir.resolve("colour"), String.format("%02d.png", i), 16, 16, BufferedImage.TYPE_INT_RGB, 0x20a040);
        }
        assertFalse(DataProfile.read(ImageFolderDataset.open(dir.resolve("colour"), false, false)).grey());
    }

    @Test
    void theGeneratedScenesAreColour() {
        DataProfile p = DataProfile.read(GeneratedScenes.train(300, 0, 32));
        assertFalse(p.grey());
        assertEquals(32, p.typicalShortSide());
        assertEquals(10, p.classes());
        assertEquals(300, p.images());
    }
}
