package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import io.moco4j.util.Stats;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Map;

/**
 * Times the LARS update alone over the cifar10-v3 model's trained parameters (CIFAR ResNet-18, projector 512-4096-256,
 * predictor 256-4096-256; 68 tensors, 16.4M values) with fixed random gradients: wall seconds and this thread's CPU
 * seconds per step (with libtorch on 1 thread the ops run on the calling thread, so CPU seconds hold on a loaded
 * machine). The reference is bench/reference_lars_step.py (moco-v3's LARS on the same shapes).
 *
 * <pre>java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp ... io.moco4j.bench.LarsStepBenchmark [steps]</pre>
 */
public final class LarsStepBenchmark {
    private LarsStepBenchmark() {}

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        MocoConfig cfg = ConfigLoader.defaults().preset("cifar10-v3").set("train.batch_size=64").build();
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer lars = Optimizers.from(cfg)) {
            Map<String, NDArray> params = moco.trainableParameters();
            long values = 0;
            for (NDArray p : params.values()) {
                try (NDArray g = p.getGradient(); NDArray r = root.randomNormal(p.getShape())) {
                    g.addi(r.mul(1e-3f));
                }
                values += p.getShape().size();
            }
            double lr = cfg.optim().effectiveLr(64);
            lars.step(params, lr); // warm-up: buffers are created
            double[] wall = new double[steps];
            double[] cpu = new double[steps];
            for (int i = 0; i < steps; i++) {
                long c0 = threads.getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                lars.step(params, lr);
                wall[i] = (System.nanoTime() - t0) / 1e9;
                cpu[i] = (threads.getCurrentThreadCpuTime() - c0) / 1e9;
            }
            System.out.printf("{\"impl\": \"moco4j-lars\", \"tensors\": %d, \"values\": %d, \"median_wall_s\": %.5f,"
                    + " \"median_thread_cpu_s\": %.5f}%n", params.size(), values, Stats.median(wall), Stats.median(cpu));
        }
    }

}
