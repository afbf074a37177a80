package io.moco4j.eval;

import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.util.UserException;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.BiConsumer;
import javax.imageio.ImageIO;

/**
 * Writes the files TensorBoard's Embedding Projector (and its standalone web version) loads: {@code tensors.tsv}
 * (one embedding a line, tab-separated), {@code metadata.tsv} (the image path, plus a header and the class for
 * labelled sets; the projector wants no header when there is a single column), {@code sprite.png} (one thumbnail
 * per row, row-major in a square grid, at most 8192 px a side as the projector requires) and
 * {@code projector_config.pbtxt} tying them together.
 */
public final class ProjectorExport {
    /** The projector refuses sprite sheets larger than this on a side. */
    static final int MAX_SPRITE = 8192;
    static final int MAX_THUMB = 64;

    /** What was written. */
    public record Result(Path tensors, Path metadata, Path sprite, Path config, long rows, int dim, int thumbSize) {}

    private ProjectorExport() {}

    /** Thumbnail side for {@code n} images: as large as fits the projector's sprite limit, at most 64 px. */
    static int thumbSize(int n) {
        int grid = gridSide(n);
        return Math.max(1, Math.min(MAX_THUMB, MAX_SPRITE / grid));
    }

    static int gridSide(int n) {
        return (int) Math.ceil(Math.sqrt(n));
    }

    /**
     * @param embedAll runs the encoder over the set, handing each (rows, D) batch with its first row index
     *                 (e.g. {@code encoder::embedAll})
     */
    public static Result write(ImageDataset dataset, BiConsumer<ImageDataset, FeatureBank.BatchConsumer> embedAll, Path dir) {
        int n = dataset.size();
        if (n == 0) {
            throw new UserException("the data set to embed is empty; point it at a folder with images");
        }
        Path tensors = dir.resolve("tensors.tsv");
        Path metadata = dir.resolve("metadata.tsv");
        Path sprite = dir.resolve("sprite.png");
        Path config = dir.resolve("projector_config.pbtxt");
        int grid = gridSide(n);
        int thumb = thumbSize(n);
        BufferedImage sheet = new BufferedImage(grid * thumb, grid * thumb, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = sheet.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        int[] dim = new int[1];
        try {
            Files.createDirectories(dir);
            try (BufferedWriter t = Files.newBufferedWriter(tensors, StandardCharsets.UTF_8);
                 BufferedWriter m = Files.newBufferedWriter(metadata, StandardCharsets.UTF_8)) {
                if (dataset.isLabeled()) {
                    m.write("path\tlabel\n");
                }
                embedAll.accept(dataset, (from, batch) -> {
                    int rows = Math.toIntExact(batch.getShape().get(0));
                    dim[0] = Math.toIntExact(batch.getShape().get(1));
                    float[] v = batch.toFloatArray();
                    try {
                        for (int r = 0; r < rows; r++) {
                            int i = from + r;
                            StringBuilder line = new StringBuilder();
                            for (int j = 0; j < dim[0]; j++) {
                                line.append(j == 0 ? "" : "\t").append(v[r * dim[0] + j]);
                            }
                            t.write(line.append('\n').toString());
                            String path = cell(dataset.describe(i));
                            m.write(dataset.isLabeled() ? path + "\t" + cell(dataset.classes().get(dataset.label(i))) + "\n" : path + "\n");
                            draw(g, dataset.load(i), (i % grid) * thumb, (i / grid) * thumb, thumb);
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
            g.dispose();
            ImageIO.write(sheet, "png", sprite.toFile());
            Files.writeString(config, String.format(Locale.ROOT, """
                    embeddings {
                      tensor_path: "tensors.tsv"
                      metadata_path: "metadata.tsv"
                      sprite {
                        image_path: "sprite.png"
                        single_image_dim: %d
                        single_image_dim: %d
                      }
                    }
                    """, thumb, thumb));
        } catch (IOException | UncheckedIOException e) {
            throw new UserException("cannot write the projector files to " + dir + ": " + e.getMessage()
                    + "; check the folder is writable", e);
        }
        return new Result(tensors, metadata, sprite, config, n, dim[0], thumb);
    }

    /** Tabs and line breaks would split a TSV cell. */
    private static String cell(String s) {
        return s.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
    }

    private static void draw(Graphics2D g, RgbImage image, int x, int y, int side) {
        g.drawImage(toBufferedImage(image), x, y, side, side, null);
    }

    /** An 8-bit RGB image as a Java2D image (for drawing and PNG encoding). */
    public static BufferedImage toBufferedImage(RgbImage image) {
        BufferedImage out = new BufferedImage(image.width(), image.height(), BufferedImage.TYPE_INT_RGB);
        byte[] p = image.pixels();
        int[] rgb = new int[image.width() * image.height()];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (p[3 * i] & 0xff) << 16 | (p[3 * i + 1] & 0xff) << 8 | (p[3 * i + 2] & 0xff);
        }
        out.setRGB(0, 0, image.width(), image.height(), rgb, 0, image.width());
        return out;
    }
}
