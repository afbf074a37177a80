package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.model.Network;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Precision;
import io.moco4j.train.Optimizers;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.Random;

/**
 * A SHA-256 over everything a few training steps produce: each step's loss and accuracies, then every tensor of every
 * network's state dict and every optimizer state entry, as raw bytes. Two builds that print the same digest for a
 * preset and precision computed the same bits, so a change meant to save time only (fewer temporary arrays, shared
 * constants) can be checked for exactly that: run it with the classes of the build before and after (same thread
 * count; one libtorch thread is deterministic here). The inputs are Gaussian images from {@code java.util.Random(42)},
 * the learning rate and momentum change every step so that the schedules' paths are covered.
 *
 * <pre>java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp ... io.moco4j.bench.StepDigest \
 *     PRESET PRECISION [BATCH [STEPS]]        # e.g. cpu-vit bf16 32 3</pre>
 */
public final class StepDigest {
    private StepDigest() {}

    public static void main(String[] args) throws Exception {
        String preset = args[0];
        Precision precision = Precision.parse(args[1]);
        int batch = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int steps = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).set("train.batch_size=" + batch).build();
        int size = cfg.train().imageSize();
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        Random random = new Random(42);
        int tensors = 0;
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer optimizer = Optimizers.from(cfg)) {
            moco.setPrecision(AutocastSupport.require(root.getDevice(), precision));
            float[] x = new float[batch * 3 * size * size];
            Shape shape = new Shape(batch, 3, size, size);
            for (int i = 0; i < steps; i++) {
                try (NDManager step = moco.manager().newSubManager()) {
                    NDArray v1 = step.create(gaussian(random, x), shape);
                    NDArray v2 = step.create(gaussian(random, x), shape);
                    MomentumContrast.StepResult r = moco.train(v1, v2, i, optimizer,
                            cfg.optim().effectiveLr(batch) * (i + 1), 0.99 - 0.001 * i);
                    System.out.println("step " + i + " " + r);
                    md.update(r.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
            }
            for (Map.Entry<String, Network> net : moco.networks().entrySet()) {
                for (Map.Entry<String, NDArray> t : net.getValue().stateDict().entrySet()) {
                    md.update((net.getKey() + t.getKey()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    md.update(t.getValue().toByteArray());
                    tensors++;
                }
            }
            for (Map.Entry<String, NDArray> t : optimizer.state().entrySet()) {
                md.update(t.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                md.update(t.getValue().toByteArray());
                tensors++;
            }
        }
        System.out.println(preset + " " + precision.label() + " batch " + batch + " steps " + steps + " tensors " + tensors
                + " sha256 " + HexFormat.of().formatHex(md.digest()));
    }

    private static float[] gaussian(Random random, float[] x) {
        for (int k = 0; k < x.length; k++) {
            x[k] = (float) random.nextGaussian();
        }
        return x;
    }
}
