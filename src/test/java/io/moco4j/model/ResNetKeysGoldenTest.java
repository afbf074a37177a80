package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** state_dict keys, order and shapes against torchvision.models.resnet{18,34,50}() (num_classes 1000). */
class ResNetKeysGoldenTest {

    private static LinkedHashMap<String, long[]> torchvisionKeys(int depth) {
        JsonNode keys = Golden.json("model/keys_resnet" + depth + ".json").get("keys");
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (JsonNode entry : keys) {
            JsonNode dims = entry.get(1);
            long[] shape = new long[dims.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = dims.get(i).asLong();
            }
            out.put(entry.get(0).asText(), shape);
        }
        return out;
    }

    private static void assertSameLayout(Map<String, long[]> expected, Map<String, long[]> actual, boolean cifar) {
        assertEquals(new ArrayList<>(expected.keySet()), new ArrayList<>(actual.keySet()), "keys in order");
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            long[] want = e.getValue();
            if (cifar && e.getKey().equals("conv1.weight")) {
                want = new long[] {want[0], want[1], 3, 3};
            }
            assertArrayEquals(want, actual.get(e.getKey()), e.getKey());
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {18, 34, 50})
    void specLayoutMatchesTorchvision(int depth) {
        LinkedHashMap<String, long[]> expected = torchvisionKeys(depth);
        assertSameLayout(expected, ResNetSpec.torchvision(depth, HeadSpec.linear(1000)).stateShapes(), false);
        assertSameLayout(expected, ResNetSpec.cifar(depth, HeadSpec.linear(1000), 8).stateShapes(), true);
    }

    @Test
    void allocatedResNet18MatchesTorchvision() {
        LinkedHashMap<String, long[]> expected = torchvisionKeys(18);
        try (NDManager root = NDManager.newBaseManager();
             ResNet net = ResNet.create(ResNetSpec.torchvision(18, HeadSpec.linear(1000)), root, 0)) {
            LinkedHashMap<String, long[]> actual = new LinkedHashMap<>();
            List<String> paramKeys = new ArrayList<>();
            for (Map.Entry<String, NDArray> e : net.stateDict().entrySet()) {
                actual.put(e.getKey(), e.getValue().getShape().getShape());
                DataType want = e.getKey().endsWith("num_batches_tracked") ? DataType.INT64 : DataType.FLOAT32;
                assertEquals(want, e.getValue().getDataType(), e.getKey());
                assertEquals(net.manager(), e.getValue().getManager(), e.getKey() + " lives in the network manager");
            }
            assertSameLayout(expected, actual, false);
            for (String k : expected.keySet()) {
                if (!k.contains("running") && !k.contains("num_batches")) {
                    paramKeys.add(k);
                }
            }
            assertEquals(paramKeys, new ArrayList<>(net.parameters().keySet()), "parameters = named_parameters()");
            assertEquals(11_689_512L, Networks.parameterCount(net), "torchvision resnet18 has 11,689,512 parameters");
            assertEquals(512, net.featureDim());
            assertEquals(1000, net.outputDim());
        }
    }

    @Test
    void headsUseTheOfficialMocoKeys() {
        assertEquals(List.of("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"),
                tail(ResNetSpec.torchvision(50, HeadSpec.mlp(0, 128)).stateShapes(), 4));
        assertArrayEquals(new long[] {2048, 2048}, ResNetSpec.torchvision(50, HeadSpec.mlp(0, 128)).stateShapes().get("fc.0.weight"));
        assertArrayEquals(new long[] {128, 512}, ResNetSpec.torchvision(18, HeadSpec.mlp(512, 128)).stateShapes().get("fc.2.weight"));
        assertArrayEquals(new long[] {300, 512}, ResNetSpec.torchvision(18, HeadSpec.mlp(300, 128)).stateShapes().get("fc.0.weight"));
        List<String> none = new ArrayList<>(ResNetSpec.torchvision(18, HeadSpec.none()).stateShapes().keySet());
        assertEquals("layer4.1.bn2.num_batches_tracked", none.get(none.size() - 1));
    }

    private static List<String> tail(Map<String, long[]> m, int n) {
        List<String> keys = new ArrayList<>(m.keySet());
        return keys.subList(keys.size() - n, keys.size());
    }
}
