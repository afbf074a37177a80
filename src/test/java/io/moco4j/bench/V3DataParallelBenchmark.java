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
import java.util.Map;

/**
 * Full MoCo v3 training steps (cpu-small-v3, SyncBN on several ranks) on synthetic 32 px images at a fixed global
 * batch, on however many ranks mpirun started: global img/s and the share of step time inside each kind of
 * collective ({@link TimedCollectives}). Not a unit test; compare {@code -np 1} with {@code -np 2} in one session:
 * {@code mpirun --allow-run-as-root --bind-to none -np N java -cp ... io.moco4j.bench.V3DataParallelBenchmark STEPS BATCH}.
 */
public final class V3DataParallelBenchmark {
    public static void main(String[] args) {
        int steps = Integer.parseInt(args[0]);
        int globalBatch = Integer.parseInt(args[1]);
        OpenMpi mpi = OpenMpi.start();
        CoreShare share = CoreShare.forRank(mpi).apply();
        TimedCollectives timed = new TimedCollectives(mpi);
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small-v3").set("train.batch_size=" + globalBatch).build();
        int local = globalBatch / mpi.size();
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            moco.distribute(timed);
            double stepSeconds = 0;
            for (int s = 0; s < steps + 2; s++) {
                if (s == 2) { // two warm-up steps
                    timed.seconds().clear();
                }
                try (NDManager step = root.newSubManager()) {
                    NDArray v1 = step.randomNormal(new Shape(local, 3, 32, 32));
                    NDArray v2 = step.randomNormal(new Shape(local, 3, 32, 32));
                    mpi.barrier();
                    long t0 = System.nanoTime();
                    moco.train(v1, v2, s, opt, 0.3, 0.99);
                    if (s >= 2) {
                        stepSeconds += (System.nanoTime() - t0) / 1e9;
                    }
                }
            }
            String[] kinds = {"syncbn forward statistics", "syncbn backward sums", "gradient all-reduce", "key gather",
                "buffer broadcast", "other"};
            float[] v = new float[kinds.length + 1];
            for (int i = 0; i < kinds.length; i++) {
                v[i] = (float) (double) timed.seconds().getOrDefault(kinds[i], 0.0);
            }
            v[kinds.length] = (float) stepSeconds;
            mpi.allReduceMean(v);
            if (mpi.isRoot()) {
                StringBuilder b = new StringBuilder();
                for (int i = 0; i < kinds.length; i++) {
                    b.append(String.format(Locale.ROOT, ", %s %.1f%%", kinds[i], 100 * v[i] / v[kinds.length]));
                }
                System.out.printf(Locale.ROOT, "v3 %d rank(s) x %d thread(s), global batch %d, %d steps: %.1f img/s, "
                        + "%.3f s/step%s (shares of step time, mean over ranks)%n", mpi.size(), share.threads(),
                        globalBatch, steps, steps * globalBatch / stepSeconds, stepSeconds / steps, b);
            }
        }
        mpi.close();
    }
}
