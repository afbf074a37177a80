package io.moco4j.precision;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Optimizers;

/**
 * One or more bf16 MoCo v3 training steps of the {@code cpu-vit} preset on random 32-px images, in its own JVM
 * (a native crash takes only this process down). Arguments: batch size, steps, then any {@code key=value}
 * settings over the preset. Prints "STEP i loss" per step and "OK" at the end.
 */
public final class VitBf16StepMain {
    private VitBf16StepMain() {}

    public static void main(String[] args) {
        int batch = Integer.parseInt(args[0]);
        int steps = Integer.parseInt(args[1]);
        var b = ConfigLoader.defaults().preset("cpu-vit").set("train.batch_size=" + batch).set("train.precision=bf16");
        for (int i = 2; i < args.length; i++) {
            b = b.set(args[i]);
        }
        MocoConfig cfg = b.build();
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            moco.setPrecision(Precision.parse(cfg.train().precision()));
            root.getEngine().setRandomSeed(1);
            for (int s = 0; s < steps; s++) {
                try (NDManager step = root.newSubManager()) {
                    var x1 = step.randomNormal(new Shape(batch, 3, 32, 32));
                    var x2 = step.randomNormal(new Shape(batch, 3, 32, 32));
                    System.out.println("STEP " + s + " " + moco.train(x1, x2, s, opt, 1e-4, 0.99).loss());
                }
            }
        }
        System.out.println("OK");
    }
}
