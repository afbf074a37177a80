package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.model.Encoder;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.train.Encoders;
import io.moco4j.train.KeyQueue;
import io.moco4j.train.MocoV2;
import io.moco4j.train.MomentumContrast;
import io.moco4j.train.SingleDeviceShuffler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Times full MoCo steps (momentum update, shuffled key forward, query forward/backward, InfoNCE,
 * enqueue, SGD) of the CIFAR-10 demo model on random 32x32 inputs, the same work as
 * bench/reference_moco_step.py does with the official PyTorch code. Not a unit test: run it through
 * bench/run-step-benchmark.sh.
 *
 * <p>Arguments: {@code batch steps warmup [profile]}. With {@code profile}, one extra step runs under
 * libtorch's profiler and the share of wall time not covered by any libtorch op (Java, JNI and
 * DJL overhead, plus the profiler's own) is reported.
 */
public final class MocoStepBenchmark {
    public static void main(String[] args) throws Exception {
        int batch = Integer.parseInt(args[0]);
        int steps = Integer.parseInt(args[1]);
        int warmup = Integer.parseInt(args[2]);
        boolean profile = args.length > 3 && args[3].equals("profile");
        MocoConfig cfg = ConfigLoader.defaults().preset("cifar10-demo").set("train.batch_size=" + batch).build();
        try (NDManager root = NDManager.newBaseManager()) {
            Encoder q = Encoders.create(cfg, root, 0);
            Encoder k = Encoders.create(cfg, root, 0);
            KeyQueue queue = KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), 1);
            try (MomentumContrast moco = MocoV2.initial(q, k, queue, new SingleDeviceShuffler(0), cfg.moco().temperature(), false);
                 Sgd sgd = new Sgd(new SgdConfig(0.9, 5e-4, 0, false))) {
                NDArray im1 = root.randomNormal(new Shape(batch, 3, 32, 32));
                NDArray im2 = root.randomNormal(new Shape(batch, 3, 32, 32));
                List<Double> times = new ArrayList<>();
                for (int i = 0; i < warmup + steps; i++) {
                    long t0 = System.nanoTime();
                    step(moco, sgd, im1, im2, i);
                    if (i >= warmup) {
                        times.add((System.nanoTime() - t0) / 1e9);
                    }
                }
                double mean = times.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
                String extra = "";
                if (profile) {
                    extra = String.format(Locale.ROOT, ", \"outside_ops_share\": %.4f", outsideOpsShare(moco, sgd, im1, im2));
                }
                System.out.printf(Locale.ROOT, "{\"impl\": \"moco4j\", \"batch\": %d, \"img_per_s\": %.3f, \"step_seconds\": %s%s}%n",
                        batch, batch / mean, times, extra);
            }
        }
    }

    private static void step(MomentumContrast moco, Sgd sgd, NDArray im1, NDArray im2, long i) {
        try (NDManager step = moco.manager().newSubManager()) {
            NDArray v1 = im1.duplicate();
            NDArray v2 = im2.duplicate();
            v1.attach(step);
            v2.attach(step);
            moco.train(v1, v2, i, sgd, 0.06, 0.99);
        }
    }

    /** Runs one step under the libtorch profiler; returns 1 - (union of op intervals) / (wall time). */
    private static double outsideOpsShare(MomentumContrast moco, Sgd sgd, NDArray im1, NDArray im2) throws Exception {
        Path trace = Files.createTempFile("moco4j-profile", ".json");
        JniUtils.startProfile(false, false, false);
        long t0 = System.nanoTime();
        step(moco, sgd, im1, im2, 1000);
        double wallUs = (System.nanoTime() - t0) / 1e3;
        JniUtils.stopProfile(trace.toString());
        JsonNode root = new ObjectMapper().readTree(trace.toFile());
        JsonNode events = root.isArray() ? root : root.path("traceEvents");
        List<double[]> spans = new ArrayList<>();
        for (JsonNode e : events) {
            if ("X".equals(e.path("ph").asText()) && e.has("dur")) {
                spans.add(new double[] {e.path("ts").asDouble(), e.path("ts").asDouble() + e.path("dur").asDouble()});
            }
        }
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
        Files.deleteIfExists(trace);
        return Math.max(0, 1 - covered / wallUs);
    }
}
