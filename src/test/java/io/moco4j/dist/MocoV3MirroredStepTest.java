package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.moco4j.config.MocoConfig;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Methods;
import io.moco4j.train.MocoV3;
import io.moco4j.train.MomentumContrast;
import io.moco4j.train.Optimizers;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The data-parallel MoCo v3 step (SyncBN, gathered keys, offset labels, averaged gradients) in one JVM: on
 * {@link MirroredRanks} (a 2-rank job whose other rank holds the same images) the step on X must equal the
 * single-process step on [X; X]. The forked 2-rank test ({@code MpiJobTest}, {@link V3StepCheck}) covers distinct
 * data on real ranks; this one runs in seconds.
 */
class MocoV3MirroredStepTest {
    @ParameterizedTest
    @ValueSource(strings = {"resnet", "vit"})
    void aStepOnMirroredRanksEqualsTheSingleProcessStepOnTheDoubledBatch(String backbone) {
        MocoConfig cfg = V3StepCheck.config(backbone);
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast distMethod = Methods.fresh(cfg, root);
             MomentumContrast singleMethod = Methods.fresh(cfg, root);
             Optimizer optDist = Optimizers.from(cfg);
             Optimizer optSingle = Optimizers.from(cfg)) {
            MocoV3 dist = (MocoV3) distMethod;
            MocoV3 single = (MocoV3) singleMethod;
            dist.distribute(new MirroredRanks());
            for (int s = 0; s < V3StepCheck.STEPS; s++) {
                MomentumContrast.StepResult d;
                MomentumContrast.StepResult o;
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = V3StepCheck.views(step, s);
                    NDArray x1 = v[0].get("0:" + V3StepCheck.B);
                    NDArray x2 = v[1].get("0:" + V3StepCheck.B);
                    d = dist.train(x1, x2, s, optDist, V3StepCheck.LR, V3StepCheck.M);
                    o = single.train(x1.concat(x1), x2.concat(x2), s, optSingle, V3StepCheck.LR, V3StepCheck.M);
                }
                assertEquals(o.loss(), d.loss(), 1e-5 * Math.abs(o.loss()), "step " + s + " loss");
            }
            float wq = worst(dist.encoderQ().stateDict(), single.encoderQ().stateDict());
            float wp = worst(dist.predictor().stateDict(), single.predictor().stateDict());
            float wk = worst(dist.encoderK().stateDict(), single.encoderK().stateDict());
            float wo = worst(optDist.state(), optSingle.state());
            System.out.printf(Locale.ROOT, "v3 %s mirrored: query %.3g, predictor %.3g, momentum %.3g, optimizer %.3g%n",
                    backbone, wq, wp, wk, wo);
            assertTrue(wq <= 2e-5 && wp <= 2e-5 && wk <= 2e-5 && wo <= 2e-5, "worst " + wq + " " + wp + " " + wk + " " + wo);
        }
    }

    static float worst(Map<String, NDArray> got, Map<String, NDArray> want) {
        assertEquals(want.keySet(), got.keySet());
        float worst = 0;
        for (Map.Entry<String, NDArray> e : want.entrySet()) {
            NDArray g = got.get(e.getKey()).toType(DataType.FLOAT32, false);
            float diff = g.sub(e.getValue().toType(DataType.FLOAT32, false)).abs().max().getFloat();
            if (diff > 2e-5) {
                System.out.println("  " + e.getKey() + " " + diff);
            }
            worst = Math.max(worst, diff);
        }
        return worst;
    }
}
