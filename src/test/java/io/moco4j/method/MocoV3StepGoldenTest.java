package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.optim.LrSchedule;
import io.moco4j.optim.Optimizer;
import io.moco4j.testutil.FlatState;
import io.moco4j.testutil.Golden;
import io.moco4j.train.Optimizers;
import io.moco4j.train.Schedules;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.opentest4j.AssertionFailedError;

/**
 * Three full MoCo v3 training steps of the official code (facebookresearch/moco-v3 MoCo_ResNet + LARS, as
 * main_moco.py's train() runs them; tools/golden/moco_v3.py) replayed through the engine as {@link Pretraining}
 * builds it from a configuration: {@link MethodFactory#fresh}, {@link Optimizers#from}, {@link Schedules}. Per step the
 * loss, learning rate and momentum must match; after the last step the base encoder (backbone + projector), the
 * momentum encoder, the predictor (parameters and BatchNorm buffers) and every LARS momentum buffer.
 */
class MocoV3StepGoldenTest {
    private static final String DIR = "moco_v3/";
    /**
     * Relative loss tolerance. Floors: the reference's float32-vs-float64 spread (moco_v3.json
     * train.*.float32_vs_float64.loss_rel, up to 7.4e-7) and ours against the golden in the full suite at 1 and 2
     * libtorch threads (2026-12-06: up to 9.9e-7, printed by the test). 1e-5 is 10x the larger.
     */
    private static final double LOSS_TOL = 1e-5;
    /**
     * Tensor tolerance, relative to max(1, largest value): 10x the widest measured floor. Floors: the reference's
     * float32-vs-float64 spread (moco_v3.json, up to 1.0e-5, the LARS momentum buffers) and torch 1.13's own
     * 1-vs-2-thread spread (tools/golden/moco_v3.py rerun with torch.set_num_threads(2), 2026-12-06: LARS buffers
     * 3.0e-6 (t1) and 1.63e-5 (t02), base encoder 1.5e-6, momentum encoder and predictor below 1.1e-7). Ours against
     * the golden at 1 and 2 libtorch threads: LARS buffers 2.4e-5 / 4.1e-5, base encoder 1.2e-5, the rest below 3e-6.
     * The former 5e-5 was 1.2x our worst and 3x the reference's own thread spread. A wrong key momentum is caught
     * by the loss (aWrongMomentumIsDetected); LARS itself is pinned at 1e-6 by LarsGoldenTest.
     */
    private static final double TENSOR_TOL = 10 * 1.63e-5;

    @ParameterizedTest
    @ValueSource(strings = {"t1", "t02"})
    void threeStepsMatchTheOfficialCode(String name) {
        double[] d = replay(name, 1.0);
        System.out.printf(Locale.ROOT, "moco_v3 %s: loss %.3g, base %.3g, momentum %.3g, predictor %.3g, lars mu %.3g%n",
                name, d[0], d[1], d[2], d[3], d[4]);
    }

    @Test
    void aWrongMomentumIsDetected() {
        // Scaling every momentum changes nothing while the momentum encoder still equals the base encoder (step 0, and
        // step 1 too since the warm-up's first lr is 0), but must fail afterwards.
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> replay("t1", 0.5));
        assertTrue(e.getMessage().contains("step 2"), e.getMessage());
    }

    @Test
    void theConfiguredSchedulesGiveTheOfficialLrAndMomentum() {
        JsonNode meta = Golden.json(DIR + "moco_v3.json");
        JsonNode c = meta.get("train").get("t1");
        MocoConfig cfg = config(meta, c.get("T").asDouble());
        LrSchedule lr = Schedules.from(cfg);
        MomentumSchedule m = Schedules.momentum(cfg);
        int steps = meta.get("train_hyper").get("iters_per_epoch").asInt();
        for (int s = 0; s < c.get("lr").size(); s++) {
            int epoch = c.get("epoch").get(s).asInt();
            int step = c.get("step").get(s).asInt();
            assertEquals(c.get("lr").get(s).asDouble(), lr.lr(epoch, step, steps), 1e-12, "lr at step " + s);
            assertEquals(c.get("m").get(s).asDouble(), m.at(epoch, step, steps), 1e-12, "momentum at step " + s);
        }
    }

    /** The engine's configuration of the golden's tiny model: MoCo v3, projector and predictor, LARS, no queue. */
    static MocoConfig config(JsonNode meta, double t) {
        JsonNode h = meta.get("train_hyper");
        return ConfigLoader.defaults().preset("cpu-small-v3")
                .set("model.width=" + h.get("width").asDouble()).set("model.zero_init_residual=false")
                .set("model.head_hidden=" + h.get("mlp_dim").asInt()).set("model.dim=" + h.get("dim").asInt())
                .set("model.predictor_hidden=" + h.get("mlp_dim").asInt())
                .set("moco.momentum=" + h.get("moco_m").asDouble()).set("moco.temperature=" + t)
                .set("optim.lr=" + h.get("lr").asDouble()).set("optim.scale_lr=false")
                .set("optim.weight_decay=" + h.get("weight_decay").asDouble())
                .set("optim.momentum=" + h.get("lars_momentum").asDouble())
                .set("optim.warmup_epochs=" + h.get("warmup_epochs").asInt())
                .set("train.epochs=" + h.get("epochs").asInt()).set("train.batch_size=" + h.get("batch").asInt())
                .set("train.image_size=" + h.get("image_size").asInt()).build();
    }

    /** Replays the case; returns the worst relative differences (loss, base, momentum, predictor, LARS). */
    private static double[] replay(String name, double momentumScale) {
        JsonNode meta = Golden.json(DIR + "moco_v3.json");
        JsonNode c = meta.get("train").get(name);
        Map<String, NpyArray> g = Golden.npz(DIR + "train_" + name + ".npz");
        Map<String, NpyArray> inputs = Golden.npz(DIR + "train_inputs.npz");
        LinkedHashMap<String, long[]> baseKeys = FlatState.layout(c.get("base_encoder_keys"));
        LinkedHashMap<String, long[]> momentumKeys = FlatState.layout(c.get("momentum_encoder_keys"));
        LinkedHashMap<String, long[]> predictorKeys = FlatState.layout(c.get("predictor_keys"));
        LinkedHashMap<String, long[]> muKeys = FlatState.layout(c.get("lars_mu_keys"));
        MocoConfig cfg = config(meta, c.get("T").asDouble());
        double[] worst = new double[5];
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast method = MethodFactory.fresh(cfg, root);
             Optimizer lars = Optimizers.from(cfg)) {
            MocoV3 moco = assertInstanceOf(MocoV3.class, method);
            assertEquals(new ArrayList<>(baseKeys.keySet()), new ArrayList<>(moco.encoderQ().stateDict().keySet()),
                    "base encoder state_dict keys and order (backbone, then the projector as fc.*)");
            assertEquals(new ArrayList<>(predictorKeys.keySet()), new ArrayList<>(moco.predictor().stateDict().keySet()),
                    "predictor state_dict keys and order");
            try (NDManager tmp = root.newSubManager()) {
                Map<String, NDArray> init = FlatState.unflatten(g.get("init/base_encoder"), baseKeys, tmp);
                moco.encoderQ().loadStateDict(init, true);
                moco.encoderK().loadStateDict(init, true); // the momentum encoder starts as an exact copy
                moco.predictor().loadStateDict(FlatState.unflatten(g.get("init/predictor"), predictorKeys, tmp), true);
            }
            for (int s = 0; s < c.get("losses").size(); s++) {
                float loss;
                try (NDManager step = root.newSubManager()) {
                    NDArray x1 = FlatState.toNd(inputs.get("step" + s + "/x1"), step);
                    NDArray x2 = FlatState.toNd(inputs.get("step" + s + "/x2"), step);
                    loss = moco.train(x1, x2, s, lars, c.get("lr").get(s).asDouble(),
                            c.get("m").get(s).asDouble() * momentumScale).loss();
                }
                double expected = c.get("losses").get(s).asDouble();
                double rel = Math.abs(loss - expected) / Math.abs(expected);
                worst[0] = Math.max(worst[0], rel);
                if (!(rel <= LOSS_TOL)) {
                    fail(String.format(Locale.ROOT, "%s step %d: loss %.8f, official %.8f", name, s, loss, expected));
                }
            }
            worst[1] = FlatState.compare(name + " base encoder", g.get("final/base_encoder"), baseKeys,
                    moco.encoderQ().stateDict(), k -> k, TENSOR_TOL);
            worst[2] = FlatState.compare(name + " momentum encoder", g.get("final/momentum_encoder"), momentumKeys,
                    moco.encoderK().stateDict(), k -> k, TENSOR_TOL);
            worst[3] = FlatState.compare(name + " predictor", g.get("final/predictor"), predictorKeys,
                    moco.predictor().stateDict(), k -> k, TENSOR_TOL);
            // Official names 'base_encoder.<k>' / 'predictor.<k>'; ours are the trainable-parameter names.
            worst[4] = FlatState.compare(name + " LARS momentum", g.get("final/lars_mu"), muKeys, lars.state(),
                    k -> k.startsWith("base_encoder.") ? k.substring("base_encoder.".length()) : k, TENSOR_TOL);
            assertEquals(muKeys.size(), lars.state().size(), "one LARS buffer per trained parameter");
        }
        return worst;
    }

    static List<String> keys(Map<String, long[]> layout) {
        return new ArrayList<>(layout.keySet());
    }
}
