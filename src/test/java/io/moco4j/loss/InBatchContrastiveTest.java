package io.moco4j.loss;

import static io.moco4j.loss.InfoNceTest.array;
import static io.moco4j.loss.InfoNceTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class InBatchContrastiveTest {

    @ParameterizedTest
    @ValueSource(strings = {"0.2", "1.0"})
    void matchesMocoV3ContrastiveLoss(String t) {
        Map<String, NpyArray> g = Golden.npz("optim/v3_t" + t + ".npz");
        double temperature = Double.parseDouble(t);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q1 = array(m, g.get("q1"));
            q1.setRequiresGradient(true);
            float value;
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                NDArray loss = InBatchContrastive.loss(q1, array(m, g.get("k2")), temperature);
                value = loss.getFloat();
                c.backward(loss);
            }
            assertEquals(g.get("loss").toFloatArray()[0], value, 1e-5 * Math.abs(value), "v3 loss");
            assertClose(g.get("grad_q1").toFloatArray(), q1.getGradient().toFloatArray(), 1e-4, 1e-6, "v3 dq1");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.2", "1.0"})
    void symmetricMatchesMocoV3Forward(String t) {
        Map<String, NpyArray> g = Golden.npz("optim/v3_t" + t + ".npz");
        double temperature = Double.parseDouble(t);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q1 = array(m, g.get("q1"));
            NDArray q2 = array(m, g.get("q2"));
            q1.setRequiresGradient(true);
            q2.setRequiresGradient(true);
            float value;
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                NDArray loss = InBatchContrastive.symmetricLoss(q1, q2, array(m, g.get("k1")), array(m, g.get("k2")), temperature);
                value = loss.getFloat();
                c.backward(loss);
            }
            assertEquals(g.get("sym_loss").toFloatArray()[0], value, 1e-5 * Math.abs(value), "v3 symmetric loss");
            assertClose(g.get("sym_grad_q1").toFloatArray(), q1.getGradient().toFloatArray(), 1e-4, 1e-6, "dq1");
            assertClose(g.get("sym_grad_q2").toFloatArray(), q2.getGradient().toFloatArray(), 1e-4, 1e-6, "dq2");
        }
    }

    /** q = k = I (N orthogonal unit rows): logits 1/T on the diagonal, 0 elsewhere. */
    @Test
    void orthogonalBatchHasClosedForm() {
        int n = 5;
        double t = 0.25;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray eye = m.eye(n, 8, 0, DataType.FLOAT32).mul(3); // scaled: normalisation happens inside
            float loss = InBatchContrastive.loss(eye, eye, t).getFloat();
            double ce = Math.log(1 + (n - 1) * Math.exp(-1 / t));
            assertEquals(ce * 2 * t, loss, 1e-6);
        }
    }

    @Test
    void accuracyFindsTheDiagonal() {
        try (NDManager m = NDManager.newBaseManager()) {
            // row 0: own key best; row 1: own key second; row 2: own key last of three
            NDArray logits = m.create(new float[] {3, 1, 2, 5, 4, 1, 9, 8, 0}, new Shape(3, 3));
            assertArrayEquals(new float[] {100f / 3, 200f / 3, 100}, InBatchContrastive.accuracy(logits, 1, 2, 3), 1e-4f);
        }
    }
}
