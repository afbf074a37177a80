package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.dist.CoreShare;
import io.moco4j.dist.OpenMpi;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import java.util.Locale;

/**
 * Full MoCo v2 training steps of the cpu-small model on synthetic images at a fixed global batch, on however many
 * ranks mpirun started (each with its core share of libtorch threads): global img/s and the share of step time
 * spent inside collectives. Not a unit test; compare {@code -np 1} with {@code -np 2} in the same session:
 * {@code mpirun --allow-run-as-root --bind-to none -np N java -cp ... io.moco4j.bench.DataParallelBenchmark STEPS BATCH}.
 */
public final class DataParallelBenchmark {
    public static void main(String[] args) {
        int steps = Integer.parseInt(args[0]);
        int globalBatch = Integer.parseInt(args[1]);
        OpenMpi mpi = OpenMpi.start();
        CoreShare share = CoreShare.forRank(mpi).apply();
        System.out.println(share.describe(mpi));
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").set("train.batch_size=" + globalBatch).build();
        int local = globalBatch / mpi.size();
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            moco.distribute(mpi);
            double stepSeconds = 0;
            double commSeconds = 0;
            for (int s = 0; s < steps + 2; s++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray v1 = step.randomNormal(new Shape(local, 3, 32, 32));
                    NDArray v2 = step.randomNormal(new Shape(local, 3, 32, 32));
                    mpi.barrier();
                    double c0 = mpi.collectiveSeconds();
                    long t0 = System.nanoTime();
                    moco.train(v1, v2, s, opt, 0.06, 0.99);
                    if (s >= 2) { // two warm-up steps
                        stepSeconds += (System.nanoTime() - t0) / 1e9;
                        commSeconds += mpi.collectiveSeconds() - c0;
                    }
                }
            }
            float[] comm = {(float) commSeconds};
            float[] total = {(float) stepSeconds};
            mpi.allReduceMean(comm);
            mpi.allReduceMean(total);
            if (mpi.isRoot()) {
                System.out.printf(Locale.ROOT, "%d rank(s) x %d thread(s), global batch %d, %d steps: %.1f img/s, %.3f s/step, "
                                + "%.0f%% of step time inside collectives (mean over ranks)%n", mpi.size(), share.threads(),
                        globalBatch, steps, steps * globalBatch / stepSeconds, stepSeconds / steps, 100 * comm[0] / total[0]);
            }
        }
        mpi.close();
    }
}
