package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.method.Encoders;
import io.moco4j.method.KeyQueue;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.MomentumContrast;
import io.moco4j.method.SingleDeviceShuffler;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.train.StopSignal;
import io.moco4j.train.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Runs N MoCo steps of a tiny model fed by the real loader and prints, every E steps (default 50), the
 * number of live NDArrays under the root manager and the process RSS, to show neither grows. Not a unit test:
 * {@code java -cp ... io.moco4j.bench.MemoryBenchmark 500 [E] [key=value ...]} (settings override the tiny model).
 *
 * <p>SIGTERM and Ctrl-C stop it between steps ({@link StopSignal}). Without that, a {@code timeout} ending the
 * run made the JVM exit (running libtorch's static destructors) while the main thread was still inside a
 * oneDNN primitive, which crashed with SIGSEGV in {@code dnnl_primitive_execute} (RELIABILITY.md).
 */
public final class MemoryBenchmark {
    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 500;
        int every = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        ConfigLoader settings = ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("train.batch_size=16")
                .set("moco.queue_size=256").set("data.generated_train=320").set("train.workers=2");
        for (int i = 2; i < args.length; i++) {
            settings.set(args[i]);
        }
        MocoConfig cfg = settings.build();
        StopSignal stop = StopSignal.install();
        long t0 = System.nanoTime();
        TrainingData data = TrainingData.open(cfg);
        try (NDManager root = NDManager.newBaseManager();
             ViewLoader loader = data.trainLoader(cfg);
             Sgd sgd = new Sgd(new SgdConfig(0.9, 5e-4, 0, false));
             MomentumContrast moco = MocoV1V2.initial(Encoders.create(cfg, root, 0), Encoders.create(cfg, root, 0),
                     KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), 1), new SingleDeviceShuffler(0),
                     cfg.moco().temperature(), false)) {
            long step = 0;
            for (int epoch = 0; step < steps && !stop.requested(); epoch++) {
                try (NDManager epochManager = root.newSubManager(); ViewLoader.Epoch batches = loader.epoch(epoch, epochManager)) {
                    while (batches.hasNext() && step < steps && !stop.requested()) {
                        try (ViewBatch batch = batches.next(); NDManager sm = root.newSubManager()) {
                            NDArray v1 = batch.view(0);
                            NDArray v2 = batch.view(1);
                            v1.attach(sm);
                            v2.attach(sm);
                            moco.train(v1, v2, step, sgd, 0.06, cfg.moco().momentum());
                        }
                        step++;
                        if (step % every == 0) {
                            System.out.printf(Locale.ROOT, "{\"step\": %d, \"seconds\": %.1f, \"live_ndarrays\": %d, \"rss_mb\": %.1f, \"heap_used_mb\": %.1f, \"heap_committed_mb\": %.1f}%n",
                                    step, (System.nanoTime() - t0) / 1e9, root.getManagedArrays().size(), rssMb(),
                                    (Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory()) / 1048576.0,
                                    Runtime.getRuntime().totalMemory() / 1048576.0);
                        }
                    }
                }
            }
            if (stop.requested()) {
                System.out.printf(Locale.ROOT, "{\"stopped\": \"%s\", \"step\": %d}%n", stop.reason(), step);
            }
        }
    }

    private static double rssMb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
            }
        }
        return Double.NaN;
    }
}
