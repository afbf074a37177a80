package io.moco4j.bench;

import io.moco4j.data.HostileImages;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Writes N hostile image files into DIR/a and DIR/b (two "classes"): mutated PNG/JPEG/BMP/GIF files (truncated,
 * bit flips, zeroed or random runs, empty), wrong extensions, 16-bit and palette PNGs, greyscale, and the bombs
 * (PNG 100,000 x 100,000, JPEG 65,000 x 65,000, a GIF of 5,000 frames), plus some intact files so training has
 * data. {@code HostileImageSet DIR N [SEED]}; prints how many of each were written.
 */
public final class HostileImageSet {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        SplittableRandom r = new SplittableRandom(args.length > 2 ? Long.parseLong(args[2]) : 17);
        Files.createDirectories(dir.resolve("a"));
        Files.createDirectories(dir.resolve("b"));
        int[] counts = new int[8];
        String[] names = {"intact", "mutated", "wrong-extension", "16-bit", "palette", "png-bomb", "jpeg-bomb", "gif-5000-frames"};
        for (int i = 0; i < n; i++) {
            int kind = i < 3 ? 5 + i : pick(r);
            String[] formats = {"png", "jpg", "bmp", "gif"};
            String fmt = formats[r.nextInt(formats.length)];
            byte[] bytes;
            String ext = fmt;
            switch (kind) {
                case 0 -> bytes = HostileImages.encode(HostileImages.noise(20 + r.nextInt(40), 20 + r.nextInt(40), i), fmt);
                case 1 -> bytes = HostileImages.mutate(HostileImages.encode(HostileImages.noise(24 + r.nextInt(30), 24 + r.nextInt(30), i), fmt), r);
                case 2 -> {
                    bytes = HostileImages.encode(HostileImages.noise(32, 32, i), fmt);
                    ext = formats[(java.util.Arrays.asList(formats).indexOf(fmt) + 1 + r.nextInt(3)) % 4];
                }
                case 3 -> {
                    BufferedImage g = new BufferedImage(30, 30, BufferedImage.TYPE_USHORT_GRAY);
                    for (int y = 0; y < 30; y++) {
                        for (int x = 0; x < 30; x++) {
                            g.getRaster().setSample(x, y, 0, r.nextInt(65536));
                        }
                    }
                    bytes = HostileImages.encode(g, "png");
                    bytes = r.nextBoolean() ? bytes : HostileImages.mutate(bytes, r);
                    ext = "png";
                }
                case 4 -> {
                    BufferedImage p = new BufferedImage(30, 30, BufferedImage.TYPE_BYTE_INDEXED);
                    p.getGraphics().drawImage(HostileImages.noise(30, 30, i), 0, 0, null);
                    bytes = HostileImages.encode(p, "png");
                    bytes = r.nextBoolean() ? bytes : HostileImages.mutate(bytes, r);
                    ext = "png";
                }
                case 5 -> { bytes = HostileImages.pngBomb(100_000, 100_000); ext = "png"; }
                case 6 -> { bytes = HostileImages.jpegBomb(65_000, 65_000); ext = "jpg"; }
                default -> { bytes = HostileImages.manyFrameGif(5000); ext = "gif"; }
            }
            counts[kind]++;
            Files.write(dir.resolve(i % 2 == 0 ? "a" : "b").resolve(String.format("img_%04d.%s", i, ext)), bytes);
        }
        StringBuilder s = new StringBuilder("wrote " + n + " files:");
        for (int k = 0; k < names.length; k++) {
            s.append(' ').append(names[k]).append(' ').append(counts[k]);
        }
        System.out.println(s);
    }

    /** 30% intact (so there is something to train on), 45% mutated, the rest odd formats and a few more bombs. */
    private static int pick(SplittableRandom r) {
        int x = r.nextInt(100);
        return x < 30 ? 0 : x < 75 ? 1 : x < 83 ? 2 : x < 90 ? 3 : x < 97 ? 4 : 5 + r.nextInt(3);
    }
}
