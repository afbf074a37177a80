package io.moco4j.data;

import io.moco4j.util.Gaussians;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Area;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The built-in image set: small rendered scenes of ten object categories, generated in memory and fully determined
 * by (seed, split, index). Each scene shows two to four objects of the image's class, each with its own random
 * colour, size, position and rotation, on a muted solid or gradient background, with a few distractor strokes and
 * dots and pixel noise.
 *
 * <p>The design follows what instance discrimination can and cannot use. Two random crops of one scene usually
 * show different objects, so an object's colour does not tie the crops together while the class's shape does;
 * the muted background carries little that survives colour jitter. Colour and position give the class away to
 * neither raw pixels nor a random encoder (kNN 18% for both, chance is 10%), while the default
 * {@code ./moco4j pretrain} encoder reaches 26.5%. (A first design, one large centred object on a busy
 * background, let MoCo learn the background: it scored below a random encoder.)
 *
 * <p>Labels are balanced: image {@code i} has class {@code i % 10}. Images are rendered on first use and kept
 * (when they fit in {@value #CACHE_LIMIT_BYTES} bytes), so repeated epochs cost nothing. Thread-safe.
 */
public final class GeneratedScenes implements ImageDataset {
    public static final List<String> CLASSES = List.of(
            "circle", "square", "triangle", "star", "cross", "ring", "bars", "checker", "arrow", "ellipse");
    public static final int DEFAULT_SIZE = 32;
    public static final int DEFAULT_TRAIN_COUNT = 10_000;
    public static final int DEFAULT_TEST_COUNT = 2_000;
    static final long CACHE_LIMIT_BYTES = 512L << 20;
    /** Minimum RGB distance between object and background colour, so the silhouette always stands out. */
    private static final double MIN_OBJECT_CONTRAST = 160;
    private static final long TRAIN_STREAM = 0x7472_6169_6eL; // "train"
    private static final long TEST_STREAM = 0x7465_7374L;     // "test"

    private final int count;
    private final int size;
    private final long seed;
    private final long stream;
    private final AtomicReferenceArray<byte[]> cache; // safe publication of images rendered by other threads

    private GeneratedScenes(int count, int size, long seed, long stream) {
        if (count < 1) {
            throw new IllegalArgumentException("count must be positive, got " + count);
        }
        if (size < 8) {
            throw new IllegalArgumentException("image size must be at least 8, got " + size);
        }
        this.count = count;
        this.size = size;
        this.seed = seed;
        this.stream = stream;
        this.cache = (long) count * size * size * 3 <= CACHE_LIMIT_BYTES ? new AtomicReferenceArray<>(count) : null;
    }

    /** Training split of {@code count} images of {@value #DEFAULT_SIZE}x{@value #DEFAULT_SIZE}. */
    public static GeneratedScenes train(int count, long seed) {
        return train(count, seed, DEFAULT_SIZE);
    }

    public static GeneratedScenes train(int count, long seed, int size) {
        return new GeneratedScenes(count, size, seed, TRAIN_STREAM);
    }

    /** Test split: drawn from a different random stream than the training split with the same seed. */
    public static GeneratedScenes test(int count, long seed) {
        return test(count, seed, DEFAULT_SIZE);
    }

    public static GeneratedScenes test(int count, long seed, int size) {
        return new GeneratedScenes(count, size, seed, TEST_STREAM);
    }

    public int imageSize() {
        return size;
    }

    @Override
    public int size() {
        return count;
    }

    @Override
    public RgbImage load(int index) {
        if (cache == null) {
            return new RgbImage(size, size, render(index));
        }
        byte[] pixels = cache.get(index);
        if (pixels == null) {
            // Two threads may render the same image at once; both results are identical, so the race is harmless.
            pixels = render(index);
            cache.set(index, pixels);
        }
        return new RgbImage(size, size, pixels.clone());
    }

    @Override
    public int label(int index) {
        java.util.Objects.checkIndex(index, count);
        return index % CLASSES.size();
    }

    @Override
    public List<String> classes() {
        return CLASSES;
    }

    @Override
    public String describe(int index) {
        return "generated:" + (stream == TRAIN_STREAM ? "train" : "test") + "/" + index + " (" + CLASSES.get(label(index)) + ")";
    }

    // ---------------------------------------------------------------------------------------------------------
    // Rendering

    private byte[] render(int index) {
        SplittableRandom rng = new SplittableRandom(SampleSeeds.combine(seed, stream, index));
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            Color background = paintBackground(g, rng);
            paintClutter(g, rng);
            int objects = 2 + rng.nextInt(3); // several, so that different crops see different objects
            for (int i = 0; i < objects; i++) {
                paintObject(g, rng, label(index), background);
            }
            paintClutterOnTop(g, rng);
        } finally {
            g.dispose();
        }
        return withNoise(img, rng);
    }

    private Color randomColor(SplittableRandom rng) {
        return Color.getHSBColor((float) rng.nextDouble(), (float) rng.nextDouble(0.0, 1.0),
                (float) rng.nextDouble(0.15, 1.0));
    }

    /** Paints a muted background and returns its mean colour (used to keep the objects visible). */
    private Color paintBackground(Graphics2D g, SplittableRandom rng) {
        Color a = mutedColor(rng);
        Color b = mutedColor(rng);
        if (rng.nextBoolean()) {
            g.setColor(a);
            g.fillRect(0, 0, size, size);
            return a;
        }
        double angle = rng.nextDouble(2 * Math.PI);
        float cx = size / 2f;
        float dx = (float) (Math.cos(angle) * size / 2);
        float dy = (float) (Math.sin(angle) * size / 2);
        g.setPaint(new GradientPaint(cx - dx, cx - dy, a, cx + dx, cx + dy, b));
        g.fillRect(0, 0, size, size);
        return mix(a, b, 0.5);
    }

    /** Low saturation, so that the background's hue says little about the scene. */
    private Color mutedColor(SplittableRandom rng) {
        return Color.getHSBColor((float) rng.nextDouble(), (float) rng.nextDouble(0.0, 0.25),
                (float) rng.nextDouble(0.15, 0.9));
    }

    /** Thin lines and small dots under the object. */
    private void paintClutter(Graphics2D g, SplittableRandom rng) {
        int items = rng.nextInt(4);
        for (int i = 0; i < items; i++) {
            paintDistractor(g, rng);
        }
    }

    /** Occasionally a distractor over the object, so that it can be partly occluded. */
    private void paintClutterOnTop(Graphics2D g, SplittableRandom rng) {
        if (rng.nextInt(3) == 0) {
            paintDistractor(g, rng);
        }
    }

    private void paintDistractor(Graphics2D g, SplittableRandom rng) {
        g.setColor(randomColor(rng));
        double s = size;
        if (rng.nextBoolean()) {
            g.setStroke(new BasicStroke((float) (s * rng.nextDouble(0.02, 0.06))));
            g.draw(new Line2D.Double(rng.nextDouble(s), rng.nextDouble(s), rng.nextDouble(s), rng.nextDouble(s)));
        } else {
            double d = s * rng.nextDouble(0.04, 0.12);
            g.fill(new Ellipse2D.Double(rng.nextDouble(s), rng.nextDouble(s), d, d));
        }
    }

    private void paintObject(Graphics2D g, SplittableRandom rng, int label, Color background) {
        Color color = randomColor(rng);
        for (int tries = 0; tries < 20 && distance(color, background) < MIN_OBJECT_CONTRAST; tries++) {
            color = randomColor(rng);
        }
        double r = size * rng.nextDouble(0.2, 0.34);
        double cx = rng.nextDouble(0.3 * r, size - 0.3 * r);
        double cy = rng.nextDouble(0.3 * r, size - 0.3 * r);
        double angle = rng.nextDouble(2 * Math.PI);
        AffineTransform placement = new AffineTransform();
        placement.translate(cx, cy);
        placement.rotate(angle);
        placement.scale(r, r);
        g.setColor(color);
        if (label == 7) { // checker: two-colour 3x3 patch
            Color second = randomColor(rng);
            for (int tries = 0; tries < 20 && distance(second, color) < 90; tries++) {
                second = randomColor(rng);
            }
            g.setColor(second);
            g.fill(placement.createTransformedShape(new Rectangle2D.Double(-0.8, -0.8, 1.6, 1.6)));
            g.setColor(color);
        }
        g.fill(placement.createTransformedShape(unitShape(label, rng)));
    }

    /** The class's shape in a unit frame (roughly inside the circle of radius 1 around the origin). */
    private static Shape unitShape(int label, SplittableRandom rng) {
        return switch (label) {
            case 0 -> new Ellipse2D.Double(-1, -1, 2, 2);
            case 1 -> new Rectangle2D.Double(-0.75, -0.75, 1.5, 1.5);
            case 2 -> regularPolygon(3, 1.0);
            case 3 -> star(5, 1.0, 0.42);
            case 4 -> {
                Area cross = new Area(new Rectangle2D.Double(-1, -0.25, 2, 0.5));
                cross.add(new Area(new Rectangle2D.Double(-0.25, -1, 0.5, 2)));
                yield cross;
            }
            case 5 -> {
                Area ring = new Area(new Ellipse2D.Double(-1, -1, 2, 2));
                double inner = rng.nextDouble(0.45, 0.65);
                ring.subtract(new Area(new Ellipse2D.Double(-inner, -inner, 2 * inner, 2 * inner)));
                yield ring;
            }
            case 6 -> {
                Area bars = new Area();
                for (int i = -1; i <= 1; i++) {
                    bars.add(new Area(new Rectangle2D.Double(i * 0.6 - 0.17, -0.9, 0.34, 1.8)));
                }
                yield bars;
            }
            case 7 -> {
                Area checker = new Area();
                double cell = 1.6 / 3;
                for (int yy = 0; yy < 3; yy++) {
                    for (int xx = 0; xx < 3; xx++) {
                        if ((xx + yy) % 2 == 0) {
                            checker.add(new Area(new Rectangle2D.Double(-0.8 + xx * cell, -0.8 + yy * cell, cell, cell)));
                        }
                    }
                }
                yield checker;
            }
            case 8 -> {
                Path2D.Double arrow = new Path2D.Double();
                arrow.moveTo(-1, -0.18);
                arrow.lineTo(0.2, -0.18);
                arrow.lineTo(0.2, -0.6);
                arrow.lineTo(1, 0);
                arrow.lineTo(0.2, 0.6);
                arrow.lineTo(0.2, 0.18);
                arrow.lineTo(-1, 0.18);
                arrow.closePath();
                yield arrow;
            }
            default -> {
                double minor = rng.nextDouble(0.35, 0.55);
                yield new Ellipse2D.Double(-1, -minor, 2, 2 * minor);
            }
        };
    }

    private static Shape regularPolygon(int sides, double radius) {
        Path2D.Double p = new Path2D.Double();
        for (int i = 0; i < sides; i++) {
            double a = -Math.PI / 2 + 2 * Math.PI * i / sides;
            if (i == 0) {
                p.moveTo(radius * Math.cos(a), radius * Math.sin(a));
            } else {
                p.lineTo(radius * Math.cos(a), radius * Math.sin(a));
            }
        }
        p.closePath();
        return p;
    }

    private static Shape star(int points, double outer, double inner) {
        Path2D.Double p = new Path2D.Double();
        for (int i = 0; i < 2 * points; i++) {
            double a = -Math.PI / 2 + Math.PI * i / points;
            double rad = i % 2 == 0 ? outer : inner;
            if (i == 0) {
                p.moveTo(rad * Math.cos(a), rad * Math.sin(a));
            } else {
                p.lineTo(rad * Math.cos(a), rad * Math.sin(a));
            }
        }
        p.closePath();
        return p;
    }

    /** Adds Gaussian pixel noise of a random strength and returns interleaved RGB bytes. */
    private byte[] withNoise(BufferedImage img, SplittableRandom rng) {
        double sigma = rng.nextDouble(0, 12);
        byte[] out = new byte[size * size * 3];
        int[] row = new int[size];
        for (int y = 0; y < size; y++) {
            img.getRGB(0, y, size, 1, row, 0, size);
            for (int x = 0; x < size; x++) {
                int c = row[x];
                int o = (y * size + x) * 3;
                for (int ch = 0; ch < 3; ch++) {
                    int v = (c >> (16 - 8 * ch)) & 0xff;
                    out[o + ch] = (byte) clamp(v + (int) Math.round(Gaussians.next(rng) * sigma));
                }
            }
        }
        return out;
    }

    private static int clamp(int v) {
        return v < 0 ? 0 : Math.min(255, v);
    }

    private static Color mix(Color a, Color b, double t) {
        return new Color((int) Math.round(a.getRed() * (1 - t) + b.getRed() * t),
                (int) Math.round(a.getGreen() * (1 - t) + b.getGreen() * t),
                (int) Math.round(a.getBlue() * (1 - t) + b.getBlue() * t));
    }

    private static double distance(Color a, Color b) {
        int dr = a.getRed() - b.getRed();
        int dg = a.getGreen() - b.getGreen();
        int db = a.getBlue() - b.getBlue();
        return Math.sqrt(dr * dr + dg * dg + db * db);
    }
}
