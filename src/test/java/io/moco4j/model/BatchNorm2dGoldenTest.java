package io.moco4j.model;

import static io.moco4j.model.TensorAsserts.assertClose;
import static io.moco4j.model.TensorAsserts.toNd;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** BatchNorm2d vs torch.nn.BatchNorm2d, split BN vs the MoCo CIFAR demo's SplitBatchNorm (tools/golden/model.py). */
class BatchNorm2dGoldenTest {
    private static final double TOL = 1e-5;
    private final Map<String, NpyArray> g = Golden.npz("model/bn.npz");

    private BatchNorm2d fresh(NDManager m) {
        return new BatchNorm2d(toNd(g.get("weight"), m), toNd(g.get("bias"), m), toNd(g.get("running_mean"), m),
                toNd(g.get("running_var"), m), m.create(0L));
    }

    @Test
    void evalUsesRunningStatsAndChangesNothing() {
        try (NDManager m = NDManager.newBaseManager()) {
            BatchNorm2d bn = fresh(m);
            assertClose("eval", g.get("out_eval"), bn.forward(toNd(g.get("x"), m), false, 1), TOL);
            assertClose("running_mean unchanged", g.get("running_mean"), bn.runningMean(), 0);
            assertClose("running_var unchanged", g.get("running_var"), bn.runningVar(), 0);
            assertEquals(0L, bn.numBatchesTracked().getLong());
        }
    }

    @Test
    void trainMatchesTorchIncludingUnbiasedRunningVar() {
        try (NDManager m = NDManager.newBaseManager()) {
            BatchNorm2d bn = fresh(m);
            NDArray before = bn.runningVar();
            assertClose("train", g.get("out_train"), bn.forward(toNd(g.get("x"), m), true, 1), TOL);
            assertClose("running_mean", g.get("running_mean_after"), bn.runningMean(), TOL);
            assertClose("running_var", g.get("running_var_after"), bn.runningVar(), TOL);
            assertTrue(before == bn.runningVar(), "running stats are updated in place");
            assertEquals(DataType.INT64, bn.numBatchesTracked().getDataType());
            assertEquals(new Shape(), bn.numBatchesTracked().getShape());
            assertEquals(g.get("num_batches_tracked_after").toLongArray()[0], bn.numBatchesTracked().getLong());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void splitBatchNormMatchesMocoDemo(int s) {
        try (NDManager m = NDManager.newBaseManager()) {
            BatchNorm2d bn = fresh(m);
            NDArray x = toNd(g.get("x"), m);
            assertClose("split train", g.get("out_train_split" + s), bn.forward(x, true, s), TOL);
            assertClose("split running_mean", g.get("running_mean_after_split" + s), bn.runningMean(), TOL);
            assertClose("split running_var", g.get("running_var_after_split" + s), bn.runningVar(), TOL);
            assertClose("eval after split", g.get("out_eval_after_split" + s), bn.forward(x, false, s), TOL);
            assertEquals(1L, bn.numBatchesTracked().getLong());
        }
    }

    @Test
    void theSplitAlgorithmWithOneGroupIsExactlyPlainBatchNorm() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = toNd(g.get("x"), m);
            BatchNorm2d plain = fresh(m);
            BatchNorm2d split = fresh(m);
            assertArrayEquals(plain.forward(x, true, 1).toFloatArray(), split.splitForward(x, 1).toFloatArray());
            assertArrayEquals(plain.runningMean().toFloatArray(), split.runningMean().toFloatArray());
            assertArrayEquals(plain.runningVar().toFloatArray(), split.runningVar().toFloatArray());
        }
    }

    @Test
    void batchNotDivisibleBySplitsIsAClearError() {
        try (NDManager m = NDManager.newBaseManager()) {
            BatchNorm2d bn = fresh(m);
            NDArray x = m.randomNormal(new Shape(6, 6, 3, 3));
            UserException e = assertThrows(UserException.class, () -> bn.forward(x, true, 4));
            assertTrue(e.getMessage().contains("batch size 6") && e.getMessage().contains("bn-splits 4"), e.getMessage());
            assertEquals(0L, bn.numBatchesTracked().getLong(), "a rejected batch changes nothing");
        }
    }

    /**
     * The golden above checks split BN's forward only. Its gradients must equal those of plain BN run on each
     * group (samples i mod S) separately, with gamma and beta shared: that is what the demo's view + repeat does.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void splitBatchNormGradientsEqualPlainBatchNormPerGroup(int s) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = toNd(g.get("x"), m);
            NDArray r = m.randomNormal(x.getShape());
            int n = (int) x.getShape().get(0);
            float[][] split = splitGradients(m, x, r, s);
            float[][] grouped = perGroupGradients(m, x, r, s, n);
            String[] names = {"weight", "bias", "x"};
            for (int i = 0; i < 3; i++) {
                float max = 0;
                for (float v : grouped[i]) {
                    max = Math.max(max, Math.abs(v));
                }
                assertTrue(max > 1e-3, names[i] + " gradient is not trivially zero");
                for (int j = 0; j < grouped[i].length; j++) {
                    assertEquals(grouped[i][j], split[i][j], 1e-4, names[i] + " gradient [" + j + "]");
                }
            }
        }
    }

    private float[][] splitGradients(NDManager m, NDArray x, NDArray r, int s) {
        BatchNorm2d bn = fresh(m);
        NDArray xg = x.duplicate();
        for (NDArray a : new NDArray[] {bn.weight(), bn.bias(), xg}) {
            a.setRequiresGradient(true);
        }
        try (ai.djl.training.GradientCollector gc = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
            gc.backward(bn.forward(xg, true, s).mul(r).sum());
        }
        return new float[][] {bn.weight().getGradient().toFloatArray(), bn.bias().getGradient().toFloatArray(),
            xg.getGradient().toFloatArray()};
    }

    private float[][] perGroupGradients(NDManager m, NDArray x, NDArray r, int s, int n) {
        BatchNorm2d bn = fresh(m);
        NDArray xg = x.duplicate();
        for (NDArray a : new NDArray[] {bn.weight(), bn.bias(), xg}) {
            a.setRequiresGradient(true);
        }
        try (ai.djl.training.GradientCollector gc = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
            NDArray loss = null;
            for (int group = 0; group < s; group++) {
                NDArray idx = m.arange(group, n, s, ai.djl.ndarray.types.DataType.INT64);
                NDArray out = bn.forward(xg.get(idx), true, 1).mul(r.get(idx)).sum();
                loss = loss == null ? out : loss.add(out);
            }
            gc.backward(loss);
        }
        return new float[][] {bn.weight().getGradient().toFloatArray(), bn.bias().getGradient().toFloatArray(),
            xg.getGradient().toFloatArray()};
    }
}
