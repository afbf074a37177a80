package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.DataSources;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.Recipes;
import io.moco4j.io.Npy;
import io.moco4j.model.ResNet;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.train.Encoders;
import io.moco4j.train.KeyQueue;
import io.moco4j.train.MomentumContrast;
import io.moco4j.train.SingleDeviceShuffler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Dumps what it takes to replay MoCo4J's first training steps through the official PyTorch builder
 * ({@code bench/replay_steps.py}): the cpu-small initial weights ({@code init_<key>.npy}, as
 * {@code Pretraining} creates them for a seed) and queue ({@code queue0.npy}), then per step the two views of a
 * real batch, the Shuffle BN permutation of the keys, and MoCo4J's loss ({@code java_losses.txt}).
 * {@code bench/reference_cifar_curve.py --init DIR} trains the official builder from the same start.
 *
 * <p>{@code java -cp "target/classes:target/test-classes:target/bench-lib/*" io.moco4j.bench.ReplayDump
 * /tmp/cifar10/train /tmp/replay 30 [seed]}
 */
public final class ReplayDump {
    private ReplayDump() {}

    public static void main(String[] args) throws Exception {
        String data = args[0];
        Path out = Files.createDirectories(Path.of(args[1]));
        int steps = Integer.parseInt(args[2]);
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 0;
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").build();
        ImageDataset ds = DataSources.open(data, false, false);
        ViewTransform view = Recipes.load("cifar", 32).cpuTransforms().get(0);
        int batch = cfg.train().batchSize();
        try (NDManager root = NDManager.newBaseManager()) {
            ResNet q = Encoders.create(cfg, root, seed);
            ResNet k = Encoders.create(cfg, root, seed);
            KeyQueue queue = KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), seed + 1); // as Pretraining
            SingleDeviceShuffler shuffler = new SingleDeviceShuffler(seed);
            MomentumContrast moco = MomentumContrast.initial(q, k, queue, shuffler, cfg.moco().momentum(),
                    cfg.moco().temperature(), false);
            write(out, "init_", q.stateDict());
            Npy.writeFloat32(out.resolve("queue0.npy"), queue.keys().toFloatArray(), queue.keys().getShape().getShape());
            Sgd sgd = new Sgd(new SgdConfig(cfg.optim().momentum(), cfg.optim().weightDecay(), 0, false));
            StringBuilder losses = new StringBuilder();
            try (ViewLoader loader = ViewLoader.builder(ds, List.of(view, view)).batchSize(batch).seed(seed)
                         .dropLast(true).shuffle(true).build();
                 NDManager epoch = root.newSubManager();
                 ViewLoader.Epoch batches = loader.epoch(0, epoch)) {
                for (int s = 0; s < steps; s++) {
                    try (ViewBatch b = batches.next(); NDManager step = root.newSubManager()) {
                        NDArray v1 = b.view(0);
                        NDArray v2 = b.view(1);
                        Npy.writeFloat32(out.resolve("step" + s + "_v1.npy"), v1.toFloatArray(), v1.getShape().getShape());
                        Npy.writeFloat32(out.resolve("step" + s + "_v2.npy"), v2.toFloatArray(), v2.getShape().getShape());
                        // MomentumContrast.step shuffles the keys of global step s with seed 2s.
                        Npy.writeInt64(out.resolve("step" + s + "_perm.npy"), shuffler.permutation(batch, 2L * s), batch);
                        v1.attach(step);
                        v2.attach(step);
                        float loss = moco.train(v1, v2, s, sgd, cfg.optim().lr()).loss();
                        losses.append(loss).append('\n');
                        System.out.println("step " + s + " loss " + loss);
                    }
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
