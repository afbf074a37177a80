package io.moco4j.bench;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Encoder;
import io.moco4j.api.Neighbor;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ImageFolderDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Numbers for the serve/API evidence: exact search latency over 10,000 and 100,000 embeddings (median and p99 of
 * 1,000 queries; baseline in the same run: scoring every row and sorting all scores, the obvious exact method) and
 * the time to embed a folder (baseline: decoding and preprocessing alone). Not a unit test:
 * {@code java -cp ... io.moco4j.bench.ServeBenchmark CKPT|random DIM IMAGE_DIR [LIMIT]}.
 */
public final class ServeBenchmark {
    public static void main(String[] args) throws Exception {
        String ckpt = args[0];
        int dim = Integer.parseInt(args[1]);
        Path images = Path.of(args[2]);
        int limit = args.length > 3 ? Integer.parseInt(args[3]) : 10_000;
        System.out.printf(Locale.ROOT, "cores %d, java %s%n", Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
        for (int n : new int[] {10_000, 100_000}) {
            search(n, dim);
        }
        embed(ckpt, images, limit);
    }

    static void search(int n, int dim) {
        SplittableRandom rng = new SplittableRandom(n);
        float[][] rows = new float[n][dim];
        for (float[] r : rows) {
            for (int j = 0; j < dim; j++) {
                r[j] = (float) rng.nextDouble(-1, 1);
            }
        }
        EmbeddingIndex index = EmbeddingIndex.of(rows);
        int queries = 1000;
        int k = 12;
        long[] ours = new long[queries];
        long[] naive = new long[queries];
        long check = 0;
        for (int warm = 0; warm < 100; warm++) {
            check += index.search(rows[warm], k).get(0).id();
            check += sortAll(index, rows[warm], k)[0];
        }
        for (int q = 0; q < queries; q++) {
            float[] query = rows[rng.nextInt(n)];
            long t0 = System.nanoTime();
            List<Neighbor> top = index.search(query, k);
            long t1 = System.nanoTime();
            int[] base = sortAll(index, query, k);
            long t2 = System.nanoTime();
            ours[q] = t1 - t0;
            naive[q] = t2 - t1;
            if (top.get(0).id() != base[0]) {
                throw new AssertionError("the two methods disagree");
            }
            check += base[0];
        }
        System.out.printf(Locale.ROOT, "search n=%d d=%d k=%d: EmbeddingIndex median %.2f ms p99 %.2f ms; score-all-and-sort"
                + " median %.2f ms p99 %.2f ms; ratio of medians %.1fx (%d)%n", n, dim, k, pct(ours, 50), pct(ours, 99),
                pct(naive, 50), pct(naive, 99), pct(naive, 50) / pct(ours, 50), check % 7);
    }

    /** The obvious exact method: every score, then a full sort (single thread). */
    static int[] sortAll(EmbeddingIndex index, float[] q, int k) {
        int n = index.size();
        long[] keyed = new long[n];
        float norm = 0;
        for (float v : q) {
            norm += v * v;
        }
        norm = (float) Math.sqrt(norm);
        for (int i = 0; i < n; i++) {
            float[] v = index.vector(i);
            float s = 0;
            for (int j = 0; j < v.length; j++) {
                s += v[j] * q[j];
            }
            s /= norm;
            // sortable key: higher score first, then lower id
            int bits = Float.floatToIntBits(s);
            bits ^= (bits >> 31) & 0x7fffffff; // now ordered as signed ints like the floats
            keyed[i] = ((long) ~bits << 32) | i;
        }
        Arrays.sort(keyed);
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = (int) keyed[i];
        }
        return out;
    }

    static double pct(long[] nanos, int p) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.ceil(p / 100.0 * s.length) - 1)] / 1e6;
    }

    static void embed(String ckpt, Path images, int limit) {
        ImageFolderDataset all = ImageFolderDataset.open(images, false, false);
        int n = Math.min(limit, all.size());
        ImageDataset subset = new ImageDataset() {
            public int size() { return n; }
            public RgbImage load(int i) throws java.io.IOException { return all.load(i * (all.size() / n)); }
            public int label(int i) { return all.label(i * (all.size() / n)); }
            public List<String> classes() { return all.classes(); }
            public String describe(int i) { return all.describe(i * (all.size() / n)); }
        };
        Encoder.Options o = Encoder.Options.defaults().withDevice("cpu").withBatchSize(256);
        try (Encoder enc = ckpt.equals("random") ? Encoder.randomInit("cpu-small", 0, o) : Encoder.load(Path.of(ckpt), o)) {
            ViewTransform t = enc.preprocessing();
            long t0 = System.nanoTime();
            float[] sink = new float[3 * t.height() * t.width()];
            IntStream.range(0, n).parallel().forEach(i -> {
                try {
                    t.apply(subset.load(i), new java.util.SplittableRandom(i), new float[sink.length], 0);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            long t1 = System.nanoTime();
            long[] rows = {0};
            enc.embedAll(subset, (from, batch) -> rows[0] += batch.getShape().get(0));
            long t2 = System.nanoTime();
            System.out.printf(Locale.ROOT, "embed %d images of %s with %s (%d-d): %.1f s, %.0f img/s; decode+preprocess alone %.1f s"
                    + " (%.0f%% of the total)%n", rows[0], images, enc.description(), enc.dimension(), (t2 - t1) / 1e9,
                    rows[0] / ((t2 - t1) / 1e9), (t1 - t0) / 1e9, 100.0 * (t1 - t0) / (t2 - t1));
        }
    }
}
