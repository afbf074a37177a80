package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.testutil.Golden;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * torch optimizer state dicts (positions) to and from MoCo4J optimizer state (names): SGD against
 * tools/golden/moco_official.py, LARS and AdamW by round trip (their real files: MocoV3InteropTest, VitInteropTest).
 */
@SuppressWarnings("unchecked")
class TorchOptimizerStateTest {
    static Object checkpoint;
    static LinkedHashMap<String, long[]> params = new LinkedHashMap<>();

    @BeforeAll
    static void load() throws URISyntaxException {
        checkpoint = TorchCheckpointReader.load(Path.of(TorchOptimizerStateTest.class
                .getResource("/golden/moco_official/moco_v1_trained.pth.tar").toURI()));
        // The golden network: ResNet-18 with widths 2/4/8/16, ImageNet stem, linear head to 8.
        ResNetSpec spec = new ResNetSpec(18, false, 2 / 64.0, false, HeadSpec.linear(8), 1);
        try (NDManager m = NDManager.newBaseManager(Device.cpu()); ResNet net = ResNet.create(spec, m, 0)) {
            net.parameters().forEach((k, v) -> params.put(k, v.getShape().getShape()));
        }
    }

    static Object optimizer() {
        return ((Map<?, ?>) checkpoint).get("optimizer");
    }

    @Test
    void officialPositionsMapToParameterNames() {
        TorchOptimizerState.Mapping m = TorchOptimizerState.momentumBuffers(optimizer(), params, params.size());
        assertTrue(m.mapped(), m.problem());
        assertEquals(params.size(), m.state().size(), "every query parameter was stepped");
        assertEquals(0, m.droppedNeverStepped(), "key encoder parameters have no gradient, hence no state");
        assertEquals(new ArrayList<>(params.keySet()), new ArrayList<>(m.state().keySet()), "parameter order kept");
        Map<String, NpyArray> want = Golden.npz("moco_official/moco_v1_trained_expected.npz");
        for (String name : List.of("conv1.weight", "fc.bias", "layer3.0.downsample.1.weight", "layer4.1.bn2.weight")) {
            assertArrayEquals(want.get("momentum." + name).toFloatArray(), m.state().get(name).toFloatArray(), name);
        }
        assertEquals(0.9, ((Number) m.settings().get("momentum")).doubleValue());
        assertEquals(1e-4, ((Number) m.settings().get("weight_decay")).doubleValue());
        assertEquals(false, m.settings().get("nesterov"));
    }

    @Test
    void writtenStateDictReadsBackToTheSameBuffers() {
        TorchOptimizerState.Mapping m = TorchOptimizerState.momentumBuffers(optimizer(), params, params.size());
        Map<String, HostTensor> some = new LinkedHashMap<>();
        List<String> names = new ArrayList<>(params.keySet());
        for (int i = 0; i < names.size(); i += 3) {
            some.put(names.get(i), m.state().get(names.get(i)));
        }
        Map<String, Object> sd = TorchOptimizerState.sgdStateDict(names, names.size(), some, 0.03, 0.9, 1e-4, false);
        List<?> ids = (List<?>) ((Map<?, ?>) ((List<?>) sd.get("param_groups")).get(0)).get("params");
        assertEquals(2 * names.size(), ids.size(), "one group over encoder_q then encoder_k parameters");
        TorchOptimizerState.Mapping back = TorchOptimizerState.momentumBuffers(sd, params, params.size());
        assertTrue(back.mapped(), back.problem());
        assertEquals(some, back.state());
    }

    @Test
    void unmappableStateIsReportedNotGuessed() {
        assertFalse(TorchOptimizerState.momentumBuffers(null, params, params.size()).mapped());
        assertTrue(TorchOptimizerState.momentumBuffers("nonsense", params, params.size()).problem().contains("not a torch optimizer"));

        List<String> names = new ArrayList<>(params.keySet());
        // A buffer with another parameter's shape: the positions do not follow this model's parameter order.
        Map<String, HostTensor> swapped = Map.of(names.get(0), HostTensor.ofFloats(new float[4], 4));
        Map<String, Object> bad = TorchOptimizerState.sgdStateDict(names, names.size(), swapped, 0.03, 0.9, 0, false);
        TorchOptimizerState.Mapping m = TorchOptimizerState.momentumBuffers(bad, params, params.size());
        assertFalse(m.mapped());
        assertTrue(m.problem().contains("has shape [4]") && m.problem().contains(names.get(0)), m.problem());
        assertTrue(m.state().isEmpty());

        // An optimizer over a different number of parameters.
        Map<String, Object> fewer = TorchOptimizerState.sgdStateDict(names.subList(0, 5), 0, Map.of(), 0.03, 0.9, 0, false);
        assertTrue(TorchOptimizerState.momentumBuffers(fewer, params, params.size()).problem().contains("holds 5 parameters"));

        // Not yet stepped (the interop golden's optimizer): mapped, with no buffers, as torch's fresh SGD.
        TorchOptimizerState.Mapping fresh = TorchOptimizerState.momentumBuffers(
                TorchOptimizerState.sgdStateDict(names, names.size(), Map.of(), 0.03, 0.9, 0, false), params, params.size());
        assertTrue(fresh.mapped());
        assertNull(fresh.problem());
        assertTrue(fresh.state().isEmpty());
    }

    @Test
    void larsAndAdamWStateGoesByPositionSkippingTheMomentumEncoder() {
        // moco-v3's model.parameters(): base encoder (a, b), momentum encoder (never stepped), predictor (p.w)
        List<String> positions = new ArrayList<>();
        positions.add("a");
        positions.add("b");
        positions.add(null);
        positions.add(null);
        positions.add("p.w");
        Map<String, long[]> shapes = Map.of("a", new long[] {2}, "b", new long[] {3}, "p.w", new long[] {1, 2});
        Map<String, HostTensor> lars = new LinkedHashMap<>();
        lars.put("a", HostTensor.ofFloats(new float[] {1, 2}, 2));
        lars.put("p.w", HostTensor.ofFloats(new float[] {3, 4}, 1, 2));
        Map<String, Object> larsDict = TorchOptimizerState.write(positions, lars, TorchOptimizerState.Slots.LARS, Map.of("lr", 0.1));
        assertEquals(List.of(0L, 4L), new ArrayList<>(((Map<?, ?>) larsDict.get("state")).keySet()), "b was never stepped");
        TorchOptimizerState.Mapping back = TorchOptimizerState.read(larsDict, positions, shapes, TorchOptimizerState.Slots.LARS);
        assertTrue(back.mapped(), back.problem());
        assertEquals(lars, back.state());

        Map<String, HostTensor> adamw = new LinkedHashMap<>();
        adamw.put("a.step", HostTensor.ofFloats(new float[] {7}));
        adamw.put("a.exp_avg", HostTensor.ofFloats(new float[] {1, 2}, 2));
        adamw.put("a.exp_avg_sq", HostTensor.ofFloats(new float[] {3, 4}, 2));
        Map<String, Object> adamDict = TorchOptimizerState.write(positions, adamw, TorchOptimizerState.Slots.ADAMW, Map.of());
        Map<?, ?> slots = (Map<?, ?>) ((Map<?, ?>) adamDict.get("state")).get(0L);
        assertEquals(List.of("step", "exp_avg", "exp_avg_sq"), new ArrayList<>(slots.keySet()), "torch's slot order");
        TorchOptimizerState.Mapping adamBack = TorchOptimizerState.read(adamDict, positions, shapes, TorchOptimizerState.Slots.ADAMW);
        assertTrue(adamBack.mapped(), adamBack.problem());
        assertEquals(adamw, adamBack.state());

        // LARS keeps mu from the first step on: a stepped parameter without it is refused, not guessed.
        Map<String, Object> noMu = TorchOptimizerState.write(positions, lars, TorchOptimizerState.Slots.LARS, Map.of());
        ((Map<String, Object>) ((Map<?, ?>) noMu.get("state")).get(0L)).remove("mu");
        TorchOptimizerState.Mapping missing = TorchOptimizerState.read(noMu, positions, shapes, TorchOptimizerState.Slots.LARS);
        assertFalse(missing.mapped());
        assertTrue(missing.problem().contains("the mu of parameter 0 (a) is missing"), missing.problem());
        // Three positions are not five: an optimizer over another model.
        assertTrue(TorchOptimizerState.read(TorchOptimizerState.write(positions.subList(0, 3), lars, TorchOptimizerState.Slots.LARS,
                Map.of()), positions, shapes, TorchOptimizerState.Slots.LARS).problem().contains("holds 3 parameters"));
    }
}
