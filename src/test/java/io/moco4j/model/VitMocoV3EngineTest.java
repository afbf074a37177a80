package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast.StepResult;
import io.moco4j.optim.AdamW;
import io.moco4j.optim.AdamWConfig;
import io.moco4j.testutil.Golden;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The same 3 official MoCo_ViT steps as {@link VitMocoStepGoldenTest}, run by the engine: {@link MocoV3} over
 * {@link ProjectedEncoder}s of a {@link VisionTransformer} and a 3-layer {@link Mlp} projector under {@code head.},
 * a 2-layer predictor with the last BatchNorm (MoCo_ViT's, unlike MoCo_ResNet's), and {@link AdamW} through
 * {@code MomentumContrast.train}. This is how the engine is expected to build a ViT run.
 */
class VitMocoV3EngineTest {
    private static final JsonNode META = Golden.json("vit/vit.json").get("moco_step");
    private static final Map<String, NpyArray> G = Golden.npz("vit/moco_step.npz");

    @Test
    void engineReproducesTheOfficialSteps() {
        JsonNode s = META.get("spec");
        VitSpec spec = new VitSpec(s.get("img").asInt(), s.get("patch").asInt(), s.get("dim").asInt(),
                s.get("depth").asInt(), s.get("heads").asInt(), 4, META.get("stop_grad_conv1").asBoolean());
        int dim = META.get("dim").asInt();
        int mlpDim = META.get("mlp_dim").asInt();
        try (NDManager root = NDManager.newBaseManager()) {
            ProjectedEncoder base = encoder(spec, mlpDim, dim, root, 1);
            ProjectedEncoder momentum = encoder(spec, mlpDim, dim, root, 2);
            Mlp predictor = Mlp.create(new MlpSpec(dim, mlpDim, dim, 2, true), root, 3);
            Map<String, NDArray> init = TensorAsserts.group(G, "init", root);
            Map<String, NDArray> encoderInit = new LinkedHashMap<>();
            Map<String, NDArray> predictorInit = new LinkedHashMap<>();
            init.forEach((k, v) -> {
                if (k.startsWith("predictor.")) {
                    predictorInit.put(k.substring("predictor.".length()), v);
                } else {
                    encoderInit.put(k, v);
                }
            });
            base.loadStateDict(encoderInit, true);
            predictor.loadStateDict(predictorInit, true);
            try (MocoV3 moco = MocoV3.initial(base, momentum, predictor, META.get("T").asDouble());
                    AdamW adamw = new AdamW(new AdamWConfig(0.9, 0.999, META.get("eps").asDouble(),
                            META.get("weight_decay").asDouble()))) {
                for (int step = 0; step < 3; step++) {
                    JsonNode st = META.get("steps").get(step);
                    try (NDManager sm = root.newSubManager()) {
                        StepResult r = moco.train(TensorAsserts.toNd(G.get("x1/step" + step), sm),
                                TensorAsserts.toNd(G.get("x2/step" + step), sm), step, adamw,
                                st.get("lr").asDouble(), st.get("m").asDouble());
                        assertEquals(st.get("loss").asDouble(), r.loss(), 1e-5, "loss of step " + step);
                    }
                }
                base.stateDict().forEach((k, v) ->
                        VitMocoStepGoldenTest.closeUnlessNoise("base " + k, G.get("final_base/" + k), v));
                momentum.stateDict().forEach((k, v) ->
                        VitMocoStepGoldenTest.closeUnlessNoise("momentum " + k, G.get("final_momentum/" + k), v));
                predictor.stateDict().forEach((k, v) ->
                        VitMocoStepGoldenTest.closeUnlessNoise("predictor " + k, G.get("final_predictor/" + k), v));
                int states = 0;
                for (Map.Entry<String, NpyArray> e : G.entrySet()) {
                    if (e.getKey().startsWith("adam/")) {
                        String[] parts = e.getKey().split("/", 3); // adam/<slot>/<base_encoder.key | predictor.key>
                        String ours = parts[2].replaceFirst("^base_encoder\\.", "");
                        VitMocoStepGoldenTest.closeUnlessNoise("AdamW " + parts[1] + " of " + parts[2], e.getValue(),
                                adamw.state().get(ours + "." + parts[1]));
                        states++;
                    }
                }
                assertEquals(states, adamw.state().size(), "AdamW keeps state for exactly torch's tensors");
            }
        }
    }

    private static ProjectedEncoder encoder(VitSpec spec, int mlpDim, int dim, NDManager root, long seed) {
        VisionTransformer vit = VisionTransformer.create(spec, root, seed);
        Mlp projector = Mlp.create(new MlpSpec(vit.featureDim(), mlpDim, dim, 3, true), root, seed + 100);
        return new ProjectedEncoder(vit, "head.", projector, dim);
    }
}
