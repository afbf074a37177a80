package io.moco4j.bench;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Neighbor;
import io.moco4j.index.IndexSettings;
import io.moco4j.index.LuceneVectorIndex;
import io.moco4j.index.VectorIndexWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Issue 17 evidence: Lucene HNSW ({@link LuceneVectorIndex}) against the exact scan ({@link EmbeddingIndex}) on
 * synthetic embeddings: build time, search latency p50/p99 of both (alternated query by query in one run) and
 * recall@10 of HNSW against the exact top 10; besides wall time, the process CPU time of each search (a shared,
 * overloaded machine stretches wall times by its scheduling, CPU time much less). Not a unit test:
 * <pre>java -Xmx6g -cp ... io.moco4j.bench.IndexSearchBenchmark N DIM QUERIES INDEX_DIR [QUANT [CANDIDATES...]]</pre>
 * The data are a mixture of 1,000 Gaussian clusters (unit centres, per-dimension noise 0.7/sqrt(d)), closer to
 * embeddings of images than uniform noise; queries are fresh draws from the same mixture. An index already in
 * INDEX_DIR with N rows of the same seed is reused (the build is the slow part), so runs can resume after a stop.
 *
 * <p>Build: one indexing thread a core (Lucene builds each thread's segment graph in its own buffer), a 1.5 GB RAM
 * buffer so a segment is flushed rarely (10^6 x 128 ends as one segment a thread, no merge of graphs), blocks of
 * 10,000 rows handed over through a short queue (at most a few blocks wait in memory). {@code -Dbench.forceMerge=1}
 * merges down to one segment after the build (slower build: the merge rebuilds the graph of the smaller
 * segments; faster search: one graph instead of one a thread); off by default.
 *
 * <p>Recall: Lucene's row ids are the document order of the segments, which several indexing threads do not keep
 * in generation order, so each row is mapped back through its stored key ({@code path(row)} is "v&lt;i&gt;").
 */
public final class IndexSearchBenchmark {
    private static final int CLUSTERS = 1000;
    private static final int K = 10;

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int dim = Integer.parseInt(args[1]);
        int queries = Integer.parseInt(args[2]);
        Path dir = Path.of(args[3]);
        IndexSettings.Quantization quant = IndexSettings.Quantization.parse(args.length > 4 ? args[4] : "none");
        int[] candidateList = args.length > 5 ? Arrays.stream(args, 5, args.length).mapToInt(Integer::parseInt).toArray() : new int[] {100};
        System.out.printf(Locale.ROOT, "n %d, d %d, %d queries, quantisation %s, cores %d, java %s, load %s%n", n, dim, queries,
                quant.id(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), load());
        Mixture data = new Mixture(dim, 17);
        EmbeddingIndex.Builder exactBuilder = EmbeddingIndex.builder(dim, EmbeddingIndex.DEFAULT_CHUNK_ROWS);
        IndexSettings settings = new IndexSettings(16, 100, quant, candidateList[0]);
        Map<String, String> meta = Files.isDirectory(dir) ? VectorIndexWriter.committedMetadata(dir) : null;
        boolean reuse = meta != null && String.valueOf(n).equals(meta.get("bench.rows")) && "complete".equals(meta.get("bench.state"));
        long t0 = System.nanoTime();
        if (reuse) {
            for (int i = 0; i < n; i++) {
                exactBuilder.add(data.next());
            }
            System.out.printf(Locale.ROOT, "reusing the index in %s (built before: %s s)%n", dir, meta.get("bench.build_seconds"));
        } else {
            Files.createDirectories(dir);
            try (VectorIndexWriter w = VectorIndexWriter.open(dir, settings, dim, 1536)) {
                // One indexing thread a core: Lucene builds one graph per thread's segment, so every core inserts.
                // A short queue bounds the blocks waiting in memory; when it is full the generating thread indexes.
                int threads = Runtime.getRuntime().availableProcessors();
                ExecutorService pool = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS,
                        new ArrayBlockingQueue<>(2 * threads), new ThreadPoolExecutor.CallerRunsPolicy());
                java.util.concurrent.atomic.AtomicInteger indexed = new java.util.concurrent.atomic.AtomicInteger();
                int block = 10_000;
                for (int start = 0; start < n; start += block) {
                    int end = Math.min(n, start + block);
                    float[][] rows = new float[end - start][];
                    for (int i = start; i < end; i++) {
                        rows[i - start] = data.next();
                        exactBuilder.add(rows[i - start]);
                    }
                    int s0 = start;
                    pool.submit(() -> {
                        for (int i = 0; i < rows.length; i++) {
                            w.put("v" + (s0 + i), 0, 0, null, rows[i]);
                        }
                        int total = indexed.addAndGet(rows.length);
                        if (total % (n / 20 < block ? block : n / 20) == 0) {
                            System.out.printf(Locale.ROOT, "  indexed %d rows, %.0f s wall, %.0f s CPU, load %s%n", total,
                                    (System.nanoTime() - t0) / 1e9, cpuSeconds(), load());
                        }
                    });
                }
                pool.shutdown();
                pool.awaitTermination(7, TimeUnit.DAYS);
                if (Boolean.getBoolean("bench.forceMerge")) {
                    double before = (System.nanoTime() - t0) / 1e9;
                    w.forceMerge(1);
                    System.out.printf(Locale.ROOT, "  force-merged to one segment in %.0f s wall, load %s%n",
                            (System.nanoTime() - t0) / 1e9 - before, load());
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                w.commit(Map.of("bench.rows", Integer.toString(n), "bench.state", "complete",
                        "bench.build_seconds", String.format(Locale.ROOT, "%.0f", seconds)));
                System.out.printf(Locale.ROOT, "built %d x %d HNSW (%s) in %.0f s wall (%.0f vectors/s), %.0f s CPU, %.0f MB on disk,"
                        + " load %s%n", n, dim, settings, seconds, n / seconds, cpuSeconds(), size(dir) / 1e6, load());
            }
        }
        EmbeddingIndex exact = exactBuilder.build();
        float[][] qs = new float[queries][];
        Mixture queryDraws = new Mixture(dim, 17, 99);
        for (int q = 0; q < queries; q++) {
            qs[q] = queryDraws.next();
        }
        int[][] truth = new int[queries][];
        long[] exactNs = new long[queries];
        long[] exactCpu = new long[queries];
        for (int c : candidateList) {
            try (LuceneVectorIndex lucene = LuceneVectorIndex.open(dir, c)) {
                if (lucene.size() != n) {
                    throw new AssertionError("the index holds " + lucene.size() + " rows, expected " + n);
                }
                int[] generated = generationOrder(lucene);
                for (int w = 0; w < Math.min(50, queries); w++) { // warm-up
                    lucene.search(qs[w], K);
                    exact.search(qs[w], K);
                }
                long[] hnswNs = new long[queries];
                long[] hnswCpu = new long[queries];
                double hits = 0;
                for (int q = 0; q < queries; q++) {
                    long c0 = cpuNanos();
                    long a = System.nanoTime();
                    List<Neighbor> approx = lucene.search(qs[q], K);
                    long b = System.nanoTime();
                    hnswCpu[q] = cpuNanos() - c0;
                    hnswNs[q] = b - a;
                    if (truth[q] == null) { // the exact scan once per query, alternated with the HNSW searches
                        long c1 = cpuNanos();
                        long e0 = System.nanoTime();
                        truth[q] = exact.search(qs[q], K).stream().mapToInt(Neighbor::id).toArray();
                        exactNs[q] = System.nanoTime() - e0;
                        exactCpu[q] = cpuNanos() - c1;
                    }
                    Set<Integer> want = new HashSet<>();
                    for (int id : truth[q]) {
                        want.add(id);
                    }
                    for (Neighbor nb : approx) {
                        hits += want.contains(generated[nb.id()]) ? 1 : 0;
                    }
                }
                System.out.printf(Locale.ROOT, "RESULT n=%d d=%d quant=%s candidates=%d segments=%d: HNSW p50 %.2f ms p99 %.2f ms"
                                + " (CPU p50 %.2f p99 %.2f) recall@10 %.4f | exact p50 %.2f ms p99 %.2f ms (CPU p50 %.2f p99 %.2f) | load %s%n",
                        n, dim, quant.id(), c, lucene.segments(), pct(hnswNs, 50), pct(hnswNs, 99), pct(hnswCpu, 50), pct(hnswCpu, 99),
                        hits / (queries * (double) K), pct(exactNs, 50), pct(exactNs, 99), pct(exactCpu, 50), pct(exactCpu, 99), load());
            }
        }
    }

    /** Lucene row -> generation index (the exact index's row), from the stored key "v<i>"; read once, outside the timing. */
    static int[] generationOrder(LuceneVectorIndex lucene) {
        List<String[]> keys = lucene.pathsAndLabels();
        int[] out = new int[keys.size()];
        for (int row = 0; row < out.length; row++) {
            out[row] = Integer.parseInt(keys.get(row)[0].substring(1));
        }
        return out;
    }

    /** Gaussian mixture draws: a unit centre (one of {@link #CLUSTERS}) plus isotropic noise. */
    static final class Mixture {
        private final float[][] centres;
        private final SplittableRandom rng;
        private final double sigma;

        Mixture(int dim, long centreSeed) {
            this(dim, centreSeed, 1);
        }

        Mixture(int dim, long centreSeed, long drawSeed) {
            SplittableRandom c = new SplittableRandom(centreSeed);
            centres = new float[CLUSTERS][dim];
            for (float[] centre : centres) {
                double norm = 0;
                for (int j = 0; j < dim; j++) {
                    centre[j] = (float) gaussian(c);
                    norm += centre[j] * centre[j];
                }
                for (int j = 0; j < dim; j++) {
                    centre[j] /= (float) Math.sqrt(norm);
                }
            }
            rng = new SplittableRandom(drawSeed);
            sigma = 0.7 / Math.sqrt(dim);
        }

        float[] next() {
            float[] centre = centres[rng.nextInt(CLUSTERS)];
            float[] v = new float[centre.length];
            for (int j = 0; j < v.length; j++) {
                v[j] = centre[j] + (float) (sigma * gaussian(rng));
            }
            return v;
        }

        private static double gaussian(SplittableRandom r) {
            double u = r.nextDouble();
            double w = r.nextDouble();
            return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * w);
        }
    }

    static double pct(long[] ns, double p) {
        long[] s = ns.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.ceil(p / 100.0 * s.length) - 1)] / 1e6;
    }

    /** CPU time of the whole process (the exact scan forks onto the common pool above 2M floats). */
    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime() / 1e9;
    }

    static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim().split(" ")[0];
        } catch (IOException e) {
            return "?";
        }
    }

    static long size(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
