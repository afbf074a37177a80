package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.api.TinyEncoders;
import io.moco4j.io.Npy;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ServeAndProjectorCommandTest {
    @TempDir
    Path tmp;

    @Test
    void serveBindsLoopbackByDefault() {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs("--checkpoint", "x.ckpt", "--images", "dir");
        assertEquals("127.0.0.1", cmd.host);
        assertEquals(8080, cmd.port);
        assertEquals(12, cmd.k);
    }

    @Test
    void serveRefusesBadInputWithOneLine() throws Exception {
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), "serve", "--checkpoint", tmp.resolve("none.ckpt").toString(),
                "--images", tmp.toString(), "--port", "0");
        assertEquals(2, code, err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        err.getBuffer().setLength(0);
        assertEquals(2, Main.run(new PrintWriter(err, true), "serve", "--checkpoint", "x.ckpt", "--images", "d", "--k", "0"));
        assertTrue(err.toString().contains("--k"), err.toString());
    }

    @Test
    void projectorFilesMatchTheNpyExport() throws Exception {
        Path ckpt = TinyEncoders.checkpoint(tmp, 1);
        List<Path> files = TinyEncoders.sceneFolder(tmp.resolve("img"), 11, 2);
        StringWriter err = new StringWriter();
        assertEquals(0, Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("img").toString(), "--out", tmp.resolve("proj").toString(), "--format", "projector", "--device", "cpu"),
                err.toString());
        assertEquals(0, Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("img").toString(), "--out", tmp.resolve("e.npy").toString(), "--device", "cpu"), err.toString());
        float[] npy = Npy.read(tmp.resolve("e.npy")).toFloatArray();
        List<String> tensors = Files.readAllLines(tmp.resolve("proj/tensors.tsv"));
        assertEquals(11, tensors.size());
        int dim = npy.length / 11;
        for (int i = 0; i < 11; i++) {
            String[] cells = tensors.get(i).split("\t");
            assertEquals(dim, cells.length);
            for (int j = 0; j < dim; j++) {
                assertEquals(npy[i * dim + j], Float.parseFloat(cells[j]), 1e-6f, "row " + i + " col " + j);
            }
        }
        List<String> meta = Files.readAllLines(tmp.resolve("proj/metadata.tsv"));
        assertEquals("path\tlabel", meta.get(0), "two columns need a header");
        assertEquals(12, meta.size());
        assertEquals(files.get(4).toString() + "\t" + files.get(4).getParent().getFileName(), meta.get(5));
        BufferedImage sprite = ImageIO.read(tmp.resolve("proj/sprite.png").toFile());
        assertEquals(4 * 64, sprite.getWidth(), "11 images: a 4 x 4 grid of 64 px thumbnails");
        assertEquals(sprite.getWidth(), sprite.getHeight());
        BufferedImage first = ImageIO.read(files.get(0).toFile());
        int rgb = sprite.getRGB(32, 32); // the middle of the first thumbnail: 2x upscale of the first image
        int want = first.getRGB(16, 16);
        for (int shift : new int[] {0, 8, 16}) {
            assertTrue(Math.abs(((rgb >> shift) & 0xff) - ((want >> shift) & 0xff)) < 60, "sprite cell 0 shows image 0");
        }
        assertTrue(Files.readString(tmp.resolve("proj/projector_config.pbtxt")).contains("single_image_dim: 64"));
        err.getBuffer().setLength(0);
        assertEquals(2, Main.run(new PrintWriter(err, true), "embed", "--checkpoint", ckpt.toString(), "--images",
                tmp.resolve("img").toString(), "--out", tmp.resolve("x.npy").toString(), "--format", "projector"));
        assertTrue(err.toString().contains("folder"), err.toString());
    }
}
