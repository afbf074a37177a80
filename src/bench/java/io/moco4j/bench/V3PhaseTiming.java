package io.moco4j.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.loss.InBatchContrastive;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV3;
import io.moco4j.model.Networks;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Float32;
import io.moco4j.precision.Precision;
import io.moco4j.train.Optimizers;
import io.moco4j.util.Gradients;
import io.moco4j.util.NoGrad;
import io.moco4j.util.Stats;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Where one single-process MoCo v3 step spends its time, by phase: the step of {@link MocoV3#step} spelled out
 * with the same public calls (momentum update, the two key forwards, the two query forwards, the symmetric loss,
 * its backward, the optimizer), each phase timed on its own: by default the CPU time of the calling thread, which with
 * one libtorch thread ({@code -Dai.djl.pytorch.num_threads=1}) is the work of the phase's ops and hardly moves with
 * other load on the machine; {@code -Dmoco4j.phase.wall=true} times wall seconds instead (libtorch's CPU ops are
 * synchronous). The reference is bench/reference_v3_phases.py, the official step cut at the same places.
 *
 * <pre>java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=2 -cp ... io.moco4j.bench.V3PhaseTiming \
 *     PRESET PRECISION [BATCH [STEPS [WARMUP [SCOPES]]]]      # e.g. cifar10-v3 bf16 64 5 2 together</pre>
 *
 * SCOPES {@code together} (default, as MocoV3 now runs it): both views' passes of an encoder under one autocast
 * scope; {@code per-pass}: a scope per pass, as MocoV3 did before (each weight cast, and its gradient converted back,
 * once per view). Prints one JSON line: the median seconds of every phase over the timed steps and of their sum.
 */
public final class V3PhaseTiming {
    static final String[] PHASES = {"zero_grad", "momentum_update", "keys_forward", "queries_forward", "loss",
        "backward", "optimizer"};

    private V3PhaseTiming() {}

    public static void main(String[] args) throws Exception {
        String preset = args.length > 0 ? args[0] : "cifar10-v3";
        Precision precision = Precision.parse(args.length > 1 ? args[1] : "fp32");
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        int warmup = args.length > 4 ? Integer.parseInt(args[4]) : 2;
        boolean together = args.length <= 5 || !"per-pass".equals(args[5]);
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).set("train.batch_size=" + batch).build();
        int size = cfg.train().imageSize();
        Device device = Device.cpu();
        double[][] t = new double[PHASES.length][steps];
        try (NDManager root = NDManager.newBaseManager(device);
             MocoV3 moco = (MocoV3) MethodFactory.fresh(cfg, root);
             Optimizer optimizer = Optimizers.from(cfg)) {
            Precision p = AutocastSupport.require(device, precision);
            NDArray im1 = root.randomNormal(new Shape(batch, 3, size, size));
            NDArray im2 = root.randomNormal(new Shape(batch, 3, size, size));
            double lr = cfg.optim().effectiveLr(batch);
            for (int i = 0; i < warmup + steps; i++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray v1 = im1.duplicate();
                    NDArray v2 = im2.duplicate();
                    v1.attach(step);
                    v2.attach(step);
                    double[] s = step(moco, optimizer, p, v1, v2, lr, cfg.moco().temperature(), together);
                    if (i >= warmup) {
                        for (int k = 0; k < PHASES.length; k++) {
                            t[k][i - warmup] = s[k];
                        }
                    }
                }
            }
        }
        StringBuilder json = new StringBuilder(String.format(Locale.ROOT,
                "{\"impl\": \"moco4j\", \"preset\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"scopes\": \"%s\", \"threads\": \"%s\", \"clock\": \"%s\"",
                preset, precision.label(), batch, together ? "together" : "per-pass", System.getProperty("ai.djl.pytorch.num_threads", "default"),
                wall ? "wall" : "thread_cpu"));
        double[] total = new double[steps];
        for (int k = 0; k < PHASES.length; k++) {
            json.append(String.format(Locale.ROOT, ", \"%s\": %.4f", PHASES[k], Stats.median(t[k])));
            for (int i = 0; i < steps; i++) {
                total[i] += t[k][i];
            }
        }
        json.append(String.format(Locale.ROOT, ", \"step\": %.4f}", Stats.median(total)));
        System.out.println(json);
    }

    /** One step as {@link MocoV3#step} + {@link io.moco4j.method.MomentumContrast#train} run it on one rank. */
    /** This thread's CPU nanoseconds (with one libtorch thread the ops run here), or wall nanoseconds if {@code wall}. */
    static boolean wall = Boolean.getBoolean("moco4j.phase.wall");

    private static long now() {
        return wall ? System.nanoTime()
                : java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
    }

    private static double[] step(MocoV3 moco, Optimizer optimizer, Precision p, NDArray v1, NDArray v2, double lr,
                                 double temperature, boolean together) {
        double[] s = new double[PHASES.length];
        Device device = v1.getDevice();
        LinkedHashMap<String, NDArray> trainable = moco.trainableParameters();
        long t0 = now();
        Gradients.zero(trainable.values());
        long t1 = now();
        s[0] = (t1 - t0) / 1e9;
        NDArray k1;
        NDArray k2;
        try (NoGrad ignored = NoGrad.enter()) {
            Networks.momentumUpdate(moco.encoderK(), moco.encoderQ(), 0.99);
            long t2 = now();
            s[1] = (t2 - t1) / 1e9;
            NDArray[] k = autocast(device, p, together, () -> moco.encoderK().forward(v1, true),
                    () -> moco.encoderK().forward(v2, true));
            k1 = k[0];
            k2 = k[1];
            s[2] = (now() - t2) / 1e9;
        }
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            long t3 = now();
            NDArray[] q = autocast(device, p, together,
                    () -> moco.predictor().forward(moco.encoderQ().forward(v1, true), true),
                    () -> moco.predictor().forward(moco.encoderQ().forward(v2, true), true));
            NDArray q1 = q[0];
            NDArray q2 = q[1];
            long t4 = now();
            s[3] = (t4 - t3) / 1e9;
            NDArray loss = InBatchContrastive.loss(q1, k2, temperature, 0).add(InBatchContrastive.loss(q2, k1, temperature, 0));
            long t5 = now();
            s[4] = (t5 - t4) / 1e9;
            gc.backward(loss);
            long t6 = now();
            s[5] = (t6 - t5) / 1e9;
            loss.getFloat();
        }
        long t7 = now();
        optimizer.step(trainable, lr);
        s[6] = (now() - t7) / 1e9;
        return s;
    }

    /** MomentumContrast#forwardTogether (or a scope per pass): under autocast, results back in float32 in the graph. */
    private static NDArray[] autocast(Device device, Precision p, boolean together, Supplier<NDArray> first,
                                      Supplier<NDArray> second) {
        NDArray[] y = new NDArray[2];
        if (together) {
            try (Autocast ignored = Autocast.enter(device, p)) {
                y[0] = first.get();
                y[1] = second.get();
            }
        } else {
            try (Autocast ignored = Autocast.enter(device, p)) {
                y[0] = first.get();
            }
            try (Autocast ignored = Autocast.enter(device, p)) {
                y[1] = second.get();
            }
        }
        return new NDArray[] {Float32.of(y[0]), Float32.of(y[1])};
    }

}
