package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.io.Npy;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.SingleDeviceShuffler;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;
import io.moco4j.train.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Dumps what it takes to replay MoCo4J's first training steps through the official PyTorch builder
 * ({@code bench/replay_steps.py}): the cpu-small initial weights ({@code init_<key>.npy}) and queue
 * ({@code queue0.npy}) of {@link Pretraining#fresh}, then per step the two views of a real batch from the run's own
 * loader, the Shuffle BN permutation of the keys, and MoCo4J's loss ({@code java_losses.txt}).
 * {@code bench/reference_cifar_curve.py --init DIR} trains the official builder from the same start.
 *
 * <p>{@code java -cp "target/classes:target/test-classes:target/bench-lib/*" io.moco4j.bench.ReplayDump
 * /tmp/cifar10/train /tmp/replay 30 [seed]}
 */
public final class ReplayDump {
    private ReplayDump() {}

    public static void main(String[] args) throws Exception {
        Path out = Files.createDirectories(Path.of(args[1]));
        int steps = Integer.parseInt(args[2]);
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 0;
        // The cpu-small run exactly as `pretrain` builds it: same config, data loader, model, queue and optimizer.
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").set("data.path='" + args[0] + "'")
                .set("train.seed=" + seed).build();
        int batch = cfg.train().batchSize();
        SingleDeviceShuffler shuffler = new SingleDeviceShuffler(seed); // the same permutations as the run's own
        try (NDManager root = NDManager.newBaseManager();
             MocoV1V2 moco = (MocoV1V2) MethodFactory.fresh(cfg, root);
             Optimizer sgd = Optimizers.from(cfg);
             ViewLoader loader = TrainingData.open(cfg).trainLoader(cfg);
             NDManager epoch = root.newSubManager();
             ViewLoader.Epoch batches = loader.epoch(0, epoch)) {
            write(out, "init_", moco.encoderQ().stateDict());
            NDArray queue = moco.queue().keys();
            Npy.writeFloat32(out.resolve("queue0.npy"), queue.toFloatArray(), queue.getShape().getShape());
            StringBuilder losses = new StringBuilder();
            for (int s = 0; s < steps; s++) {
                try (ViewBatch b = batches.next(); NDManager step = root.newSubManager()) {
                    NDArray v1 = b.view(0);
                    NDArray v2 = b.view(1);
                    Npy.writeFloat32(out.resolve("step" + s + "_v1.npy"), v1.toFloatArray(), v1.getShape().getShape());
                    Npy.writeFloat32(out.resolve("step" + s + "_v2.npy"), v2.toFloatArray(), v2.getShape().getShape());
                    // MocoV1V2.step shuffles the keys of global step s with seed 2s.
                    Npy.writeInt64(out.resolve("step" + s + "_perm.npy"), shuffler.permutation(batch, 2L * s), batch);
                    v1.attach(step);
                    v2.attach(step);
                    float loss = moco.train(v1, v2, s, sgd, cfg.optim().lr(), cfg.moco().momentum()).loss();
                    losses.append(loss).append('\n');
                    System.out.println("step " + s + " loss " + loss);
                }
            }
            Files.writeString(out.resolve("java_losses.txt"), losses.toString());
        }
    }

    private static void write(Path out, String prefix, Map<String, NDArray> state) throws java.io.IOException {
        for (Map.Entry<String, NDArray> e : state.entrySet()) {
            if (!e.getKey().endsWith("num_batches_tracked")) {
                NDArray a = e.getValue();
                Npy.writeFloat32(out.resolve(prefix + e.getKey() + ".npy"), a.toFloatArray(), a.getShape().getShape());
            }
        }
    }
}
