package io.moco4j.data.augment.bench;

import io.moco4j.data.RgbImage;
import io.moco4j.data.augment.CpuViewTransform;
import io.moco4j.data.augment.Recipe;
import io.moco4j.data.augment.Recipes;
import io.moco4j.data.ViewTransform;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Throughput of decode (ImageIO) + two augmented views per image, with a fixed thread pool; not a unit test.
 * Driven by {@code bench/augment/run.py}, which also times torchvision on the same files. Prints one JSON line:
 * {@code {"img_per_s": .., "img_per_cpu_s": .., "stages_ms": {..}}}: wall-clock throughput, throughput per second of
 * process CPU time (all JVM threads, so JIT and GC count; robust when other jobs share the cores) and, on request,
 * mean milliseconds per image of each stage (single-threaded pass).
 *
 * <p>Usage: {@code AugmentBenchmark DIR RECIPE SIZE THREADS IMAGES [WARMUP_IMAGES [STAGES(0|1)]]}
 */
public final class AugmentBenchmark {
    private AugmentBenchmark() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Recipe recipe = Recipes.load(args[1], Integer.parseInt(args[2]));
        int threads = Integer.parseInt(args[3]);
        int images = Integer.parseInt(args[4]);
        int warmup = args.length > 5 ? Integer.parseInt(args[5]) : images;
        boolean withStages = args.length > 6 && args[6].equals("1");
        List<Path> files;
        try (Stream<Path> s = Files.walk(dir)) {
            files = s.filter(p -> p.toString().endsWith(".jpg")).sorted().toList();
        }
        if (files.isEmpty()) {
            throw new IllegalArgumentException("no .jpg files under " + dir + "; run bench/augment/make_inputs.py");
        }
        List<ViewTransform> views = recipe.cpuTransforms();
        ImageIO.setUseCache(false);

        run(files, views, threads, warmup, 1000);
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        run(files, views, threads, images, 0);
        double seconds = (System.nanoTime() - t0) / 1e9;
        double cpuSeconds = (os.getProcessCpuTime() - cpu0) / 1e9;

        String stages = withStages ? stageBreakdown(files, views, Math.min(images, 300)) : "{}";
        System.out.printf(Locale.ROOT, "{\"recipe\": \"%s\", \"size\": %s, \"threads\": %d, \"images\": %d, \"seconds\": %.3f,"
                + " \"img_per_s\": %.1f, \"img_per_cpu_s\": %.1f, \"stages_ms\": %s}%n", args[1], args[2], threads, images, seconds,
                images / seconds, images / cpuSeconds, stages);
    }

    private static void run(List<Path> files, List<ViewTransform> views, int threads, int images, long seedBase)
            throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        AtomicInteger next = new AtomicInteger();
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                fs.add(pool.submit(() -> {
                    float[][] out = new float[views.size()][];
                    for (int v = 0; v < views.size(); v++) {
                        out[v] = new float[3 * views.get(v).height() * views.get(v).width()];
                    }
                    for (int i; (i = next.getAndIncrement()) < images; ) {
                        RgbImage img = decode(files.get(i % files.size()));
                        for (int v = 0; v < views.size(); v++) {
                            views.get(v).apply(img, new SplittableRandom((seedBase + i) * 31 + v), out[v], 0);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
    }

    /**
     * Mean ms per image (all views) of decode, each top-level recipe step, and normalisation; one thread, measured
     * in thread CPU time so that other jobs on the machine distort it less.
     */
    private static String stageBreakdown(List<Path> files, List<ViewTransform> views, int images) {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        CpuViewTransform first = (CpuViewTransform) views.get(0);
        int steps = first.stepCount();
        long[] nanos = new long[steps + 1];
        long decode = 0;
        for (int i = 0; i < images; i++) {
            long t = mx.getCurrentThreadCpuTime();
            RgbImage img = decode(files.get(i % files.size()));
            decode += mx.getCurrentThreadCpuTime() - t;
            for (int v = 0; v < views.size(); v++) {
                CpuViewTransform cv = (CpuViewTransform) views.get(v);
                long[] per = cv.stepCount() == steps ? nanos : new long[cv.stepCount() + 1];
                float[] out = new float[3 * cv.height() * cv.width()];
                cv.applyTimed(img, new SplittableRandom(i * 31L + v), out, 0, per, mx::getCurrentThreadCpuTime);
            }
        }
        StringBuilder sb = new StringBuilder("{");
        sb.append(String.format(Locale.ROOT, "\"decode\": %.3f", decode / 1e6 / images));
        for (int s = 0; s < steps; s++) {
            sb.append(String.format(Locale.ROOT, ", \"%d_%s\": %.3f", s, first.spec().ops().get(s).key(), nanos[s] / 1e6 / images));
        }
        sb.append(String.format(Locale.ROOT, ", \"to_tensor_normalize\": %.3f}", nanos[steps] / 1e6 / images));
        return sb.toString();
    }

    /** ImageIO decode to 8-bit RGB (what a loader would do), with a fast path for 3-byte BGR rasters. */
    static RgbImage decode(Path file) {
        BufferedImage bi;
        try {
            bi = ImageIO.read(new ByteArrayInputStream(Files.readAllBytes(file)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        int w = bi.getWidth();
        int h = bi.getHeight();
        byte[] rgb = new byte[w * h * 3];
        Raster r = bi.getRaster();
        if (bi.getType() == BufferedImage.TYPE_3BYTE_BGR && r.getDataBuffer() instanceof DataBufferByte db
                && db.getData().length == rgb.length) {
            byte[] bgr = db.getData();
            for (int i = 0; i < rgb.length; i += 3) {
                rgb[i] = bgr[i + 2];
                rgb[i + 1] = bgr[i + 1];
                rgb[i + 2] = bgr[i];
            }
        } else if (bi.getType() == BufferedImage.TYPE_BYTE_GRAY && r.getDataBuffer() instanceof DataBufferByte db
                && db.getData().length == w * h) {
            byte[] g = db.getData();
            for (int i = 0; i < g.length; i++) {
                rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i];
            }
        } else {
            int[] argb = bi.getRGB(0, 0, w, h, null, 0, w);
            for (int i = 0; i < argb.length; i++) {
                rgb[3 * i] = (byte) (argb[i] >> 16);
                rgb[3 * i + 1] = (byte) (argb[i] >> 8);
                rgb[3 * i + 2] = (byte) argb[i];
            }
        }
        return new RgbImage(w, h, rgb);
    }
}
