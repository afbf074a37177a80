package io.moco4j.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class InfoNceTest {

    static NDArray array(NDManager m, NpyArray a) {
        return m.create(a.toFloatArray(), new Shape(a.shape()));
    }

    static void assertClose(float[] expected, float[] actual, double rtol, double atol, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], atol + rtol * Math.abs(expected[i]), what + " [" + i + "]");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.07", "0.2"})
    void lossLogitsAndGradientMatchTorch(String t) {
        Map<String, NpyArray> g = Golden.npz("optim/infonce_t" + t + ".npz");
        double temperature = Double.parseDouble(t);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray qRaw = array(m, g.get("q_raw"));
            qRaw.setRequiresGradient(true);
            NDArray k = array(m, g.get("k"));
            NDArray queue = array(m, g.get("queue"));
            assertEquals(new Shape(32, 16), queue.getShape(), "golden queue is stored one row per key");
            float lossValue;
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                NDArray logits = InfoNce.logits(InfoNce.normalize(qRaw), k, queue, temperature);
                assertClose(g.get("logits").toFloatArray(), logits.toFloatArray(), 1e-5, 1e-5, "logits");
                NDArray loss = InfoNce.loss(logits);
                lossValue = loss.getFloat();
                c.backward(loss);
            }
            assertEquals(g.get("loss").toFloatArray()[0], lossValue, 1e-5 * Math.abs(lossValue), "loss");
            assertClose(g.get("grad_q_raw").toFloatArray(), qRaw.getGradient().toFloatArray(), 1e-4, 1e-6, "dloss/dq");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.07", "0.2"})
    void symmetricLossIsTheNotebooksSumOfBothDirections(String t) {
        Map<String, NpyArray> g = Golden.npz("optim/infonce_t" + t + ".npz");
        double temperature = Double.parseDouble(t);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q1 = array(m, g.get("q1_raw"));
            NDArray q2 = array(m, g.get("q2_raw"));
            q1.setRequiresGradient(true);
            q2.setRequiresGradient(true);
            float value;
            try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
                NDArray loss = InfoNce.symmetricLoss(InfoNce.normalize(q1), InfoNce.normalize(q2),
                        array(m, g.get("k1")), array(m, g.get("k2")), array(m, g.get("queue")), temperature);
                value = loss.getFloat();
                c.backward(loss);
            }
            assertEquals(g.get("sym_loss").toFloatArray()[0], value, 1e-5 * Math.abs(value), "symmetric loss");
            assertClose(g.get("grad_q1_raw").toFloatArray(), q1.getGradient().toFloatArray(), 1e-4, 1e-6, "dq1");
            assertClose(g.get("grad_q2_raw").toFloatArray(), q2.getGradient().toFloatArray(), 1e-4, 1e-6, "dq2");
        }
    }

    /** q = k = e_i, queue rows orthogonal to every q: logits are [1/T, 0 x K], loss = log(1 + K e^{-1/T}). */
    @Test
    void orthogonalKeysHaveClosedFormLoss() {
        int n = 4;
        int d = 10;
        int kNeg = 6;
        double t = 0.5;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.eye(n, d, 0, ai.djl.ndarray.types.DataType.FLOAT32);
            NDArray queue = m.eye(d).get(n + ":" + (n + kNeg));
            float loss = InfoNce.loss(q, q, queue, t).getFloat();
            assertEquals(Math.log(1 + kNeg * Math.exp(-1 / t)), loss, 1e-6);
        }
    }

    /** At T = 0.01 the logits are +-100, beyond float32's exp range: the loss must stay finite and exact. */
    @Test
    void smallTemperatureIsNumericallyStable() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray q = m.create(new float[] {1, 0, 0, 1}, new Shape(2, 2));
            NDArray allEqual = m.create(new float[] {1, 0, 0, 1, 1, 0, 0, 1, 1, 0}, new Shape(5, 2)).get("0:4");
            // rows of q: e0, e1; queue = [e0, e1, e0, e1]: every row sees its positive and 2 equal negatives at 100
            float tied = InfoNce.loss(q, q, allEqual, 0.01).getFloat();
            assertEquals(Math.log(3), tied, 1e-5);
            NDArray opposite = allEqual.neg();
            float confident = InfoNce.loss(q, q, opposite, 0.01).getFloat();
            assertTrue(Float.isFinite(confident) && confident >= 0 && confident < 1e-6, "loss " + confident);
        }
    }

    @Test
    void normalizeMatchesTorchEpsilon() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {3, 4, 0, 0, 1e-13f, 0}, new Shape(3, 2));
            float[] y = InfoNce.normalize(x).toFloatArray();
            // rows: (3,4) -> (0.6, 0.8); zero row stays zero; tiny row is divided by eps 1e-12, not its norm
            assertArrayEquals(new float[] {0.6f, 0.8f, 0, 0, 0.1f, 0}, y, 1e-6f);
        }
    }

    @Test
    void accuracyMatchesOfficialFunction() {
        Map<String, NpyArray> g = Golden.npz("optim/accuracy.npz");
        long[] topk = g.get("topk").toLongArray();
        int[] ks = new int[topk.length];
        for (int i = 0; i < ks.length; i++) {
            ks[i] = (int) topk[i];
        }
        try (NDManager m = NDManager.newBaseManager()) {
            float[] acc = InfoNce.accuracy(array(m, g.get("logits")), ks);
            assertClose(g.get("acc").toFloatArray(), acc, 1e-6, 1e-4, "top-k accuracy");
        }
    }

    /** Four rows whose positive ranks 0, 1, 2 and 4 (hand-built): top-1 25%, top-2 50%, top-3 75%, top-5 100%. */
    @Test
    void accuracyOnKnownRanks() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = m.create(new float[] {
                5, 1, 2, 3, 4,
                4, 5, 1, 2, 3,
                3, 5, 4, 1, 2,
                1, 5, 4, 3, 2}, new Shape(4, 5));
            assertArrayEquals(new float[] {25, 50, 75, 75, 100}, InfoNce.accuracy(logits, 1, 2, 3, 4, 5), 1e-4f);
        }
    }

    @Test
    void resultsStayInTheCallersManager() {
        try (NDManager outer = NDManager.newBaseManager()) {
            NDArray q = InfoNce.normalize(outer.randomNormal(new Shape(4, 8)));
            NDArray queue = InfoNce.normalize(outer.randomNormal(new Shape(16, 8)));
            int before = outer.getManagedArrays().size();
            try (NDManager step = outer.newSubManager()) {
                NDArray qs = q.duplicate();
                qs.attach(step);
                NDArray loss = InfoNce.loss(qs, qs, queue, 0.2);
                InfoNce.accuracy(InfoNce.logits(qs, qs, queue, 0.2), 1, 5);
                assertTrue(loss.getFloat() > 0);
            }
            assertEquals(before, outer.getManagedArrays().size(), "temporaries leaked into the outer manager");
        }
    }
}
