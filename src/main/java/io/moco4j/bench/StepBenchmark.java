package io.moco4j.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Precision;
import io.moco4j.train.Optimizers;
import io.moco4j.util.Stats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Times full training steps of whatever method and backbone a configuration describes (momentum update, key
 * forwards, query forward and backward, loss, optimizer step; v1/v2 also Shuffle BN and the enqueue) on
 * synthetic input of the configured batch and image size, on any device. The same work as one step of
 * {@code pretrain}, without the data pipeline, so the numbers compare with a reference step on the same inputs.
 */
public final class StepBenchmark {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What to run: timed steps after warm-up steps; {@code profile} adds one step under libtorch's profiler;
     * {@code gate} is asked before every step (warm-up too) and told each step's seconds after it.
     */
    public record Plan(int warmupSteps, int timedSteps, boolean profile, StepGate gate) {
        public Plan(int warmupSteps, int timedSteps, boolean profile) {
            this(warmupSteps, timedSteps, profile, StepGate.OPEN);
        }
    }

    /**
     * Lets another program take turns with this benchmark step by step: bench/paired_ab.py runs two implementations
     * at once and alternates their steps, so both see the same machine (on a shared or throttled machine the speed
     * drifts by tens of percent within minutes, which separate runs mistake for a difference between them).
     */
    public interface StepGate {
        StepGate OPEN = new StepGate() {
            @Override
            public void awaitTurn() {}

            @Override
            public void stepDone(double wallSeconds, double cpuSeconds) {}
        };

        void awaitTurn() throws IOException;

        void stepDone(double wallSeconds, double cpuSeconds) throws IOException;
    }

    /**
     * Per-step seconds and derived figures. {@code stepCpuSeconds}: the process's CPU seconds per step (all threads),
     * which, unlike wall seconds, hardly depends on what else the machine runs: with libtorch on one thread it compares
     * the work of two implementations on a loaded machine.
     */
    public record Result(MocoConfig config, Device device, Precision precision, double[] stepSeconds, double outsideOpsShare,
                         long peakRssBytes, double[] stepCpuSeconds) {
        public double medianSeconds() {
            return Stats.median(stepSeconds);
        }

        public double imagesPerSecond() {
            return config.train().batchSize() / medianSeconds();
        }

        public ObjectNode toJson() {
            ObjectNode o = JSON.createObjectNode();
            o.put("impl", "moco4j");
            o.put("moco_version", config.version());
            o.put("arch", config.model().arch());
            o.put("batch", config.train().batchSize());
            o.put("image_size", config.train().imageSize());
            o.put("device", device.toString());
            o.put("precision", precision.label());
            o.put("img_per_s", imagesPerSecond());
            o.put("median_step_seconds", medianSeconds());
            double[] s = stepSeconds.clone();
            Arrays.sort(s);
            o.put("min_step_seconds", s[0]);
            o.put("max_step_seconds", s[s.length - 1]);
            o.set("step_seconds", JSON.valueToTree(stepSeconds));
            if (stepCpuSeconds.length > 0 && stepCpuSeconds[0] >= 0) {
                o.put("median_step_cpu_seconds", Stats.median(stepCpuSeconds));
            }
            if (!Double.isNaN(outsideOpsShare)) {
                o.put("outside_ops_share", outsideOpsShare);
            }
            if (peakRssBytes > 0) {
                o.put("peak_rss_mb", peakRssBytes / 1048576.0);
            }
            return o;
        }
    }

    private StepBenchmark() {}

    public static Result run(MocoConfig cfg, Device device, Plan plan) throws IOException {
        int batch = cfg.train().batchSize();
        int size = cfg.train().imageSize();
        try (NDManager root = NDManager.newBaseManager(device);
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer optimizer = Optimizers.from(cfg)) {
            moco.setPrecision(AutocastSupport.require(device, Precision.parse(cfg.train().precision())));
            // Fixed synthetic images (drawn on the host so every device sees the same input).
            NDArray im1 = root.create(gaussian(batch * 3L * size * size, 1), new Shape(batch, 3, size, size));
            NDArray im2 = root.create(gaussian(batch * 3L * size * size, 2), new Shape(batch, 3, size, size));
            double lr = cfg.optim().effectiveLr(batch);
            double m = cfg.moco().momentum();
            double[] times = new double[plan.timedSteps()];
            double[] cpu = new double[plan.timedSteps()];
            for (int i = 0; i < plan.warmupSteps() + plan.timedSteps(); i++) {
                plan.gate().awaitTurn();
                long c0 = processCpuNanos();
                long t0 = System.nanoTime();
                step(moco, optimizer, im1, im2, i, lr, m);
                double wall = (System.nanoTime() - t0) / 1e9;
                double cpuSeconds = c0 < 0 ? -1 : (processCpuNanos() - c0) / 1e9;
                if (i >= plan.warmupSteps()) {
                    times[i - plan.warmupSteps()] = wall;
                    cpu[i - plan.warmupSteps()] = cpuSeconds;
                }
                plan.gate().stepDone(wall, cpuSeconds);
            }
            double outside = plan.profile() ? outsideOpsShare(moco, optimizer, im1, im2, lr, m) : Double.NaN;
            return new Result(cfg, device, moco.precision(), times, outside, peakRss(), cpu);
        }
    }

    /** One training step on copies of the fixed views, its temporaries freed with it (also the src/bench step tools'). */
    static void step(MomentumContrast moco, Optimizer optimizer, NDArray im1, NDArray im2, long i, double lr, double m) {
        try (NDManager step = moco.manager().newSubManager()) {
            NDArray v1 = im1.duplicate();
            NDArray v2 = im2.duplicate();
            v1.attach(step);
            v2.attach(step);
            moco.train(v1, v2, i, optimizer, lr, m);
        }
    }

    private static float[] gaussian(long n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** Runs one step under the libtorch profiler; returns 1 - (union of op intervals) / (wall time). */
    private static double outsideOpsShare(MomentumContrast moco, Optimizer optimizer, NDArray im1, NDArray im2, double lr,
                                          double m) throws IOException {
        Path trace = Files.createTempFile("moco4j-profile", ".json");
        try {
            JniUtils.startProfile(false, false, false);
            long t0 = System.nanoTime();
            step(moco, optimizer, im1, im2, 1000, lr, m);
            double wallUs = (System.nanoTime() - t0) / 1e3;
            JniUtils.stopProfile(trace.toString());
            JsonNode root = JSON.readTree(trace.toFile());
            JsonNode events = root.isArray() ? root : root.path("traceEvents");
            List<double[]> spans = new ArrayList<>();
            for (JsonNode e : events) {
                if ("X".equals(e.path("ph").asText()) && e.has("dur")) {
                    spans.add(new double[] {e.path("ts").asDouble(), e.path("ts").asDouble() + e.path("dur").asDouble()});
                }
            }
            return Math.max(0, 1 - union(spans) / wallUs);
        } finally {
            Files.deleteIfExists(trace);
        }
    }

    /** The length covered by the union of [start, end] spans (sorts {@code spans} in place). */
    static double union(List<double[]> spans) {
        spans.sort((a, b) -> Double.compare(a[0], b[0]));
        double covered = 0;
        double end = Double.NEGATIVE_INFINITY;
        for (double[] s : spans) {
            if (s[0] > end) {
                covered += s[1] - s[0];
                end = s[1];
            } else if (s[1] > end) {
                covered += s[1] - end;
                end = s[1];
            }
        }
        return covered;
    }

    /** The process's CPU time in nanoseconds (all threads), or -1 where the JVM does not tell it. */
    private static long processCpuNanos() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return -1;
    }

    /** The process's peak resident memory (Linux VmHWM); 0 where /proc is not there. Host memory only. */
    static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
