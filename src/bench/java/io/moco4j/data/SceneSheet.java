package io.moco4j.data;

import java.awt.image.BufferedImage;
import java.io.File;
import javax.imageio.ImageIO;

/** Writes a contact sheet of generated scenes (rows = classes) for eyeballing: {@code SceneSheet out.png [size]}. */
final class SceneSheet {
    public static void main(String[] args) throws Exception {
        int size = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        GeneratedScenes ds = GeneratedScenes.train(200, 0, size);
        int cols = 12;
        int scale = 3;
        BufferedImage sheet = new BufferedImage(cols * size * scale, 10 * size * scale, BufferedImage.TYPE_INT_RGB);
        for (int c = 0; c < 10; c++) {
            for (int j = 0; j < cols; j++) {
                RgbImage im = ds.load(c + 10 * j);
                for (int y = 0; y < size * scale; y++) {
                    for (int x = 0; x < size * scale; x++) {
                        int px = x / scale;
                        int py = y / scale;
                        int rgb = (im.get(px, py, 0) << 16) | (im.get(px, py, 1) << 8) | im.get(px, py, 2);
                        sheet.setRGB(j * size * scale + x, c * size * scale + y, rgb);
                    }
                }
            }
        }
        ImageIO.write(sheet, "png", new File(args[0]));
    }
}
