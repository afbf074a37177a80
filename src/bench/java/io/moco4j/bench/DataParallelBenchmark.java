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
 * Full MoCo training steps of a preset's model on synthetic 32 px images at a fixed global batch, on however many
 * ranks mpirun started (each with its core share of libtorch threads): global img/s, the share of step time inside
 * collectives, and that share by kind of collective ({@link TimedCollectives}; the kinds are named for what a v3 step
 * uses them for: under v1/v2 the Shuffle BN gathers count as "key gather"). Not a unit test; compare {@code -np 1}
 * with {@code -np 2} in the same session:
 * {@code mpirun --allow-run-as-root --bind-to none -np N java -cp ... io.moco4j.bench.DataParallelBenchmark STEPS BATCH [PRESET]}
 * with PRESET {@code cpu-small} (the queue engine, MocoV1V2; the default) or {@code cpu-small-v3} (v3, SyncBN on several ranks).
 */
public final class DataParallelBenchmark {
    /** The learning rate each preset's step runs at (the schedule's peak; the value only has to be sane). */
    private static final Map<String, Double> LR = Map.of("cpu-small", 0.06, "cpu-small-v3", 0.3);
    private static final String[] KINDS = {"syncbn forward statistics", "syncbn backward sums", "gradient all-reduce",
        "key gather", "buffer broadcast", "other"};

    public static void main(String[] args) {
        int steps = Integer.parseInt(args[0]);
        int globalBatch = Integer.parseInt(args[1]);
        String preset = args.length > 2 ? args[2] : "cpu-small";
        if (!LR.containsKey(preset)) {
            throw new IllegalArgumentException("preset " + preset + ": use one of " + LR.keySet());
        }
        OpenMpi mpi = OpenMpi.start();
        CoreShare share = CoreShare.forRank(mpi).apply();
        System.out.println(share.describe(mpi));
        TimedCollectives timed = new TimedCollectives(mpi);
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).set("train.batch_size=" + globalBatch).build();
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
                    moco.train(v1, v2, s, opt, LR.get(preset), 0.99);
                    if (s >= 2) {
                        stepSeconds += (System.nanoTime() - t0) / 1e9;
                    }
                }
            }
            float[] v = new float[KINDS.length + 1];
            for (int i = 0; i < KINDS.length; i++) {
                v[i] = (float) (double) timed.seconds().getOrDefault(KINDS[i], 0.0);
            }
            v[KINDS.length] = (float) stepSeconds;
            mpi.allReduceMean(v);
            if (mpi.isRoot()) {
                float comm = 0;
                StringBuilder b = new StringBuilder();
                for (int i = 0; i < KINDS.length; i++) {
                    comm += v[i];
                    b.append(String.format(Locale.ROOT, ", %s %.1f%%", KINDS[i], 100 * v[i] / v[KINDS.length]));
                }
                System.out.printf(Locale.ROOT, "%s v%d %d rank(s) x %d thread(s), global batch %d, %d steps: %.1f img/s, "
                        + "%.3f s/step, %.0f%% of step time inside collectives%s (shares of step time, mean over ranks)%n",
                        preset, cfg.version(), mpi.size(), share.threads(), globalBatch, steps,
                        steps * globalBatch / stepSeconds, stepSeconds / steps, 100 * comm / v[KINDS.length], b);
            }
        }
        mpi.close();
    }
}
