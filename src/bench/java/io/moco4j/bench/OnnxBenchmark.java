package io.moco4j.bench;

import io.moco4j.api.Encoder;
import io.moco4j.api.OnnxEncoder;
import io.moco4j.data.ImageDecoder;
import io.moco4j.data.RgbImage;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.onnx.OnnxExport;
import io.moco4j.util.Stats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Embedding throughput of ONNX Runtime ({@link OnnxEncoder} on the exported model) against libtorch ({@link Encoder})
 * for one encoder, on the same decoded images, with the same preprocessing code and thread count, alternated in one
 * run: every round times libtorch and ONNX Runtime at batch 1 (one image per call, {@code images1} calls) and at
 * batch 64 (one call of 64), the order of the two runtimes flipping each round; the first round is a warm-up. Reports
 * the median img/s of each and the median of the per-round ratios, plus the largest difference between the two
 * runtimes' embeddings (relative to the largest magnitude) as a check that they compute the same thing.
 *
 * <p>Arguments: {@code preset images-folder rounds images1 threads}; the encoder is the preset's architecture with
 * random weights (the speed does not depend on the values), at the preset's image size, pooled backbone features.
 * Not a unit test. Command (BENCHMARKS.md, "Issue 17: ONNX"):
 *
 * <pre>
 * ./mvnw -q -o test-compile && ./mvnw -q -o dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test
 * java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=2 -Dai.djl.pytorch.num_interop_threads=1 \
 *   -cp "target/classes:target/test-classes:$(cat /tmp/cp.txt)" io.moco4j.bench.OnnxBenchmark cpu-small /work/cifar10/test 6 64 2
 * </pre>
 */
public final class OnnxBenchmark {
    private static final int BATCH = 64;

    public static void main(String[] args) throws Exception {
        String preset = args[0];
        Path folder = Path.of(args[1]);
        int rounds = Integer.parseInt(args[2]);
        int images1 = Integer.parseInt(args[3]);
        int threads = Integer.parseInt(args[4]);
        List<RgbImage> images = load(folder, BATCH);
        Encoder.Options options = Encoder.Options.defaults().withDevice("cpu").withLayer(FeatureLayer.BACKBONE)
                .withBatchSize(BATCH);
        Path onnx = Files.createTempFile("moco4j-bench-" + preset, ".onnx");
        try (Encoder torch = Encoder.randomInit(preset, 0, options)) {
            OnnxExport.Result r = OnnxExport.write(new OnnxExport.Request(torch.network(), FeatureLayer.BACKBONE,
                    torch.imageSize(), false, "random " + preset), onnx);
            try (OnnxEncoder ort = OnnxEncoder.load(onnx, options, threads)) {
                System.out.printf(Locale.ROOT, "# %s: %s, %d px, %d-d, %.1f MB ONNX; %d threads each; libtorch batch %d%n",
                        preset, torch.network().describe(), torch.imageSize(), torch.dimension(), r.bytes() / 1e6,
                        threads, BATCH);
                float[][][] last = new float[2][][]; // the batch-64 embeddings of libtorch and ORT (compared once)
                List<double[]> rows = new ArrayList<>(); // per round: torch b1, ort b1, torch b64, ort b64 (img/s)
                for (int round = 0; round <= rounds; round++) {
                    boolean torchFirst = round % 2 == 0;
                    double[] row = new double[4];
                    for (int k = 0; k < 2; k++) {
                        boolean useTorch = (k == 0) == torchFirst;
                        row[useTorch ? 0 : 1] = singles(useTorch ? torch::embedDecoded : ort::embedDecoded, images, images1);
                    }
                    for (int k = 0; k < 2; k++) {
                        boolean useTorch = (k == 0) == torchFirst;
                        row[useTorch ? 2 : 3] = batch(useTorch ? torch::embedDecoded : ort::embedDecoded, images, last,
                                useTorch ? 0 : 1);
                    }
                    if (round == 0) {
                        System.out.printf(Locale.ROOT, "# max |ORT - libtorch| / max |libtorch| on %d images: %.2e%n", BATCH,
                                maxDiff(last[0], last[1]) / Math.max(1e-12, maxAbs(last[0])));
                    }
                    System.out.printf(Locale.ROOT, "round %d%s: batch 1 libtorch %.1f ORT %.1f img/s; batch 64 libtorch %.1f ORT %.1f img/s%n",
                            round, round == 0 ? " (warm-up)" : "", row[0], row[1], row[2], row[3]);
                    if (round > 0) {
                        rows.add(row);
                    }
                }
                System.out.printf(Locale.ROOT, "RESULT %s batch 1: libtorch %.1f img/s, ORT %.1f img/s, ORT/libtorch %.2f"
                                + " | batch 64: libtorch %.1f img/s, ORT %.1f img/s, ORT/libtorch %.2f (medians of %d rounds)%n",
                        preset, median(rows, r0 -> r0[0]), median(rows, r0 -> r0[1]), median(rows, r0 -> r0[1] / r0[0]),
                        median(rows, r0 -> r0[2]), median(rows, r0 -> r0[3]), median(rows, r0 -> r0[3] / r0[2]), rows.size());
            }
        } finally {
            Files.deleteIfExists(onnx);
        }
    }

    interface Embed {
        float[][] apply(List<RgbImage> images);
    }

    private static double singles(Embed e, List<RgbImage> images, int n) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            e.apply(List.of(images.get(i % images.size())));
        }
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    private static double batch(Embed e, List<RgbImage> images, float[][][] out, int slot) {
        long t0 = System.nanoTime();
        out[slot] = e.apply(images);
        return images.size() / ((System.nanoTime() - t0) / 1e9);
    }

    private static List<RgbImage> load(Path folder, int n) throws Exception {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(folder)) {
            files = walk.filter(p -> p.toString().matches("(?i).*\\.(jpe?g|png)")).sorted().toList();
        }
        if (files.size() < n) {
            throw new IllegalArgumentException(folder + " has fewer than " + n + " images");
        }
        List<RgbImage> out = new ArrayList<>();
        int step = files.size() / n; // spread over the classes
        for (int i = 0; i < n; i++) {
            out.add(ImageDecoder.decode(files.get(i * step)));
        }
        return out;
    }

    private static double median(List<double[]> rows, java.util.function.ToDoubleFunction<double[]> f) {
        return Stats.median(rows.stream().mapToDouble(f).toArray());
    }

    private static double maxDiff(float[][] a, float[][] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return m;
    }

    private static double maxAbs(float[][] a) {
        return Arrays.stream(a).flatMapToDouble(r -> {
            double[] d = new double[r.length];
            for (int i = 0; i < r.length; i++) {
                d[i] = Math.abs(r[i]);
            }
            return Arrays.stream(d);
        }).max().orElse(0);
    }
}
