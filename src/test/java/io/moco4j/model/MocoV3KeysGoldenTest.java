package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * moco-v3's MoCo_ResNet state_dict (golden/moco_v3/moco_resnet_keys.json) equals our pieces put together:
 * {@code base_encoder.} = ResNet without head + {@code fc.} projector MLP, {@code momentum_encoder.} the same,
 * {@code predictor.} the predictor MLP. This is the layout the engine and the importer must produce.
 */
class MocoV3KeysGoldenTest {

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "resnet50"})
    void mocoResNetIsBackbonePlusProjectorAndPredictor(String name) {
        JsonNode c = Golden.json("moco_v3/moco_resnet_keys.json").get(name);
        int dim = c.get("dim").asInt();
        int mlpDim = c.get("mlp_dim").asInt();
        ResNetSpec backbone = name.equals("tiny")
                ? new ResNetSpec(18, true, c.get("width").asDouble(), false, HeadSpec.none(), 1)
                : new ResNetSpec(50, false, 1.0, true, HeadSpec.none(), 1);
        MlpSpec projector = MlpSpec.resnetProjector(backbone.featureDim(), mlpDim, dim);
        MlpSpec predictor = MlpSpec.resnetPredictor(dim, mlpDim);

        Map<String, long[]> ours = new LinkedHashMap<>();
        for (String encoder : new String[] {"base_encoder.", "momentum_encoder."}) {
            backbone.stateShapes().forEach((k, s) -> ours.put(encoder + k, s));
            projector.stateShapes().forEach((k, s) -> ours.put(encoder + "fc." + k, s));
        }
        predictor.stateShapes().forEach((k, s) -> ours.put("predictor." + k, s));

        List<String> expected = new ArrayList<>();
        for (JsonNode e : c.get("keys")) {
            List<Long> dims = new ArrayList<>();
            e.get(1).forEach(d -> dims.add(d.asLong()));
            expected.add(e.get(0).asText() + " " + dims);
        }
        List<String> actual = new ArrayList<>();
        ours.forEach((k, s) -> actual.add(k + " " + Arrays.toString(s)));
        assertEquals(expected, actual);
    }
}
