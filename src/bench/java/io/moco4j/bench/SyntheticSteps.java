package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Precision;
import io.moco4j.train.Optimizers;

/**
 * What the step tools here train on: a fresh model of a preset at a batch size, in a precision, its optimizer, and two
 * fixed random views (libtorch's generator) stepped with the preset's effective learning rate and momentum 0.99.
 */
final class SyntheticSteps implements AutoCloseable {
    final NDManager root;
    final MomentumContrast moco;
    final Optimizer optimizer;
    final NDArray im1;
    final NDArray im2;
    final double lr;

    SyntheticSteps(String preset, Precision precision, int batch) {
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).set("train.batch_size=" + batch).build();
        int size = cfg.train().imageSize();
        root = NDManager.newBaseManager();
        moco = MethodFactory.fresh(cfg, root);
        optimizer = Optimizers.from(cfg);
        try {
            moco.setPrecision(AutocastSupport.require(root.getDevice(), precision));
        } catch (RuntimeException e) { // e.g. bf16 on a libtorch without autocast: one line from the caller
            close();
            throw e;
        }
        im1 = root.randomNormal(new Shape(batch, 3, size, size));
        im2 = root.randomNormal(new Shape(batch, 3, size, size));
        lr = cfg.optim().effectiveLr(batch);
    }

    /** Training step {@code i} on copies of the two views ({@link StepBenchmark#step}). */
    void step(long i) {
        StepBenchmark.step(moco, optimizer, im1, im2, i, lr, 0.99);
    }

    @Override
    public void close() {
        optimizer.close();
        moco.close();
        root.close();
    }
}
