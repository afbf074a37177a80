package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import io.moco4j.model.Networks;
import io.moco4j.precision.Precision;
import io.moco4j.util.Stats;
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Locale;

/**
 * This thread's CPU milliseconds of the two per-parameter loops of a MoCo v3 step, the optimizer step and the momentum
 * update, each repeated alone many times over the model's real gradients (after STEPS training steps, whose median
 * is printed too). Both loops are hundreds of small ops, so most of their time outside libtorch is Java and JNI
 * bookkeeping; with one libtorch thread the ops run on this thread and CPU time holds on a loaded machine.
 *
 * <pre>java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp ... io.moco4j.bench.V3UpdateTiming \
 *     [PRESET [PRECISION [BATCH [STEPS]]]]        # default cpu-vit bf16 64 15</pre>
 */
public final class V3UpdateTiming {
    private V3UpdateTiming() {}

    public static void main(String[] args) throws Exception {
        String preset = args.length > 0 ? args[0] : "cpu-vit";
        Precision precision = Precision.parse(args.length > 1 ? args[1] : "bf16");
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 15;
        try (SyntheticSteps run = new SyntheticSteps(preset, precision, batch)) {
            int warmup = 10;
            double[] step = new double[steps];
            for (int i = 0; i < warmup + steps; i++) {
                long t = cpuNanos();
                run.step(i);
                if (i >= warmup) {
                    step[i - warmup] = (cpuNanos() - t) / 1e6;
                }
            }
            LinkedHashMap<String, NDArray> trained = run.moco.trainableParameters();
            int reps = 5 * steps;
            double[] update = new double[reps];
            double[] momentum = new double[reps];
            for (int i = 0; i < 50 + reps; i++) { // 50 unmeasured first: the JVM compiles the loops
                long t0 = cpuNanos();
                run.optimizer.step(trained, run.lr * 1e-3);
                long t1 = cpuNanos();
                Networks.momentumUpdate(run.moco.encoderK(), run.moco.encoderQ(), 0.999);
                long t2 = cpuNanos();
                if (i >= 50) {
                    update[i - 50] = (t1 - t0) / 1e6;
                    momentum[i - 50] = (t2 - t1) / 1e6;
                }
            }
            System.out.printf(Locale.ROOT, "{\"preset\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"step_ms\": %.2f, "
                            + "\"optimizer_ms\": %.3f, \"momentum_update_ms\": %.3f, \"parameters\": %d}%n", preset,
                    precision.label(), batch, Stats.median(step), Stats.median(update),
                    Stats.median(momentum), trained.size());
        }
    }

    private static long cpuNanos() {
        return ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
    }
}
