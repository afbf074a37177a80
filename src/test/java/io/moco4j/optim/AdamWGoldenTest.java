package io.moco4j.optim;

import io.moco4j.testutil.ToleranceReport;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * AdamW against torch.optim.AdamW (tools/golden/vit.py): five steps with weight decay 0.1 and a changing learning
 * rate (the first 0, as MoCo v3's warm-up starts) over a matrix, a vector and a 0-dim parameter, plus one
 * parameter without a gradient that torch leaves untouched; then the same run saved after two steps and resumed.
 */
class AdamWGoldenTest {
    /**
     * Relative to max(1, |expected|). AdamW is elementwise, so the thread count cannot change its rounding; what
     * differs from torch is the order of its few float32 ops per element. Measured against the golden (2026-12-06,
     * MOCO4J_TOLERANCE_REPORT=1, 1 and 2 threads alike): at most 1.5e-8 (exp_avg); 2e-6 is 130x that, about 16 float32 ulps
     * of an O(1) value, and a wrong bias correction or decoupled decay moves parameters by 1e-3 or more.
     */
    private static final double TOL = 2e-6;
    private static final Map<String, NpyArray> G = Golden.npz("vit/adamw.npz");
    private static final JsonNode META = Golden.json("vit/vit.json").get("adamw");

    @Test
    void trajectoryAndStateEqualTorch() {
        try (NDManager m = NDManager.newBaseManager(); AdamW opt = new AdamW(config())) {
            Map<String, NDArray> params = initial(m);
            NDArray frozen = m.ones(new Shape(2));
            params.put("frozen", frozen); // no gradient: skipped, no decay
            run(opt, params, 0, steps());
            assertEquals(steps(), opt.stepCount());
            assertArrayEquals(new float[] {1, 1}, frozen.toFloatArray(), "a parameter without gradient is untouched");
            for (String n : names()) {
                close("exp_avg " + n, G.get("exp_avg/" + n), opt.state().get(n + ".exp_avg"));
                close("exp_avg_sq " + n, G.get("exp_avg_sq/" + n), opt.state().get(n + ".exp_avg_sq"));
                close("step " + n, G.get("step/" + n), opt.state().get(n + ".step"));
                assertEquals(DataType.FLOAT32, opt.state().get(n + ".step").getDataType(), "step is float32 as torch's");
            }
            assertEquals(3 * names().size(), opt.state().size(), "no state for the parameter without gradient");
        }
    }

    @Test
    void savedAndResumedStateContinuesTheTrajectory() {
        try (NDManager m = NDManager.newBaseManager(); NDManager saved = NDManager.newBaseManager()) {
            Map<String, NDArray> params = initial(m);
            Map<String, NDArray> copy = new LinkedHashMap<>();
            try (AdamW first = new AdamW(config())) {
                run(first, params, 0, 2);
                for (Map.Entry<String, NDArray> e : first.state().entrySet()) {
                    NDArray c = e.getValue().duplicate();
                    c.attach(saved);
                    copy.put(e.getKey(), c);
                }
            } // the first optimizer and its state are gone
            try (AdamW second = new AdamW(config())) {
                second.loadState(copy);
                second.setStepCount(2);
                copy.values().forEach(a -> a.muli(0)); // the loaded state must be a copy
                run(second, params, 2, steps());
                assertEquals(steps(), second.stepCount());
            }
        }
    }

    @Test
    void incompleteOrForeignStateIsRejectedWithOneLine() {
        try (NDManager m = NDManager.newBaseManager(); AdamW opt = new AdamW(config())) {
            UserException e = assertThrows(UserException.class,
                    () -> opt.loadState(Map.of("w.exp_avg", m.zeros(new Shape(2)))));
            assertTrue(e.getMessage().contains("lacks") && e.getMessage().contains("start without it"), e.getMessage());
            e = assertThrows(UserException.class, () -> opt.loadState(Map.of("w", m.zeros(new Shape(2)))));
            assertTrue(e.getMessage().contains("not AdamW's"), e.getMessage());
            e = assertThrows(UserException.class, () -> new AdamWConfig(0.9, 1.0, 1e-8, 0.1));
            assertTrue(e.getMessage().contains("beta2"), e.getMessage());
        }
    }

    /** Steps {@code from} (inclusive) to {@code to} (exclusive) of the golden, checking the parameters after each. */
    private static void run(AdamW opt, Map<String, NDArray> params, int from, int to) {
        for (int s = from; s < to; s++) {
            Map<String, NDArray> trained = new LinkedHashMap<>();
            List<float[]> grads = new ArrayList<>();
            for (String n : names()) {
                trained.put(n, params.get(n));
                grads.add(G.get("grad/step" + s + "/" + n).toFloatArray());
            }
            SgdTest.setGradients(trained, grads.toArray(new float[0][]));
            opt.step(params, META.get("lr").get(s).asDouble());
            for (String n : names()) {
                close("step " + s + " " + n, G.get("after/step" + s + "/" + n), params.get(n));
            }
        }
    }

    private static Map<String, NDArray> initial(NDManager m) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        for (String n : names()) {
            NpyArray a = G.get("init/" + n);
            NDArray p = m.create(a.toFloatArray(), new Shape(a.shape()));
            p.setRequiresGradient(true);
            params.put(n, p);
        }
        return params;
    }

    private static void close(String what, NpyArray expected, NDArray actual) {
        assertArrayEquals(expected.shape(), actual.getShape().getShape(), what + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toType(DataType.FLOAT32, false).toFloatArray();
        ToleranceReport.print(what, e, a, TOL);
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(a[i] - e[i]) <= TOL * Math.max(1, Math.abs(e[i])))) {
                fail(what + "[" + i + "]: expected " + e[i] + ", got " + a[i]);
            }
        }
    }

    private static AdamWConfig config() {
        return new AdamWConfig(META.get("betas").get(0).asDouble(), META.get("betas").get(1).asDouble(),
                META.get("eps").asDouble(), META.get("weight_decay").asDouble());
    }

    private static List<String> names() {
        List<String> n = new ArrayList<>();
        META.get("names").forEach(x -> n.add(x.asText()));
        return n;
    }

    private static int steps() {
        return META.get("lr").size();
    }
}
