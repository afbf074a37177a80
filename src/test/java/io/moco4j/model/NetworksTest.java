package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** copy, momentum update, gradient flags, gradient zeroing and memory ownership. */
class NetworksTest {
    private static final ResNetSpec TINY = new ResNetSpec(18, true, 1.0 / 16, false, HeadSpec.mlp(0, 8), 1);

    /** Every tensor of {@code net} set to {@code value} (parameters) / {@code bufferValue} (float buffers). */
    private static void fill(ResNet net, NDManager m, float value, float bufferValue, long counter) {
        Map<String, NDArray> src = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : net.stateDict().entrySet()) {
            Shape s = e.getValue().getShape();
            boolean param = net.parameters().containsKey(e.getKey());
            src.put(e.getKey(), e.getKey().endsWith("num_batches_tracked") ? m.create(counter)
                    : m.full(s, param ? value : bufferValue));
        }
        net.loadStateDict(src, true);
    }

    @Test
    void momentumUpdateMixesParametersOnlyInPlaceWithoutAGraph() {
        try (NDManager root = NDManager.newBaseManager();
             ResNet key = ResNet.create(TINY, root, 1);
             ResNet query = ResNet.create(TINY, root, 2)) {
            fill(key, root, 2f, 0.5f, 7);
            fill(query, root, 4f, 9f, 100);
            Networks.setRequiresGradient(query, true);
            NDArray keyConv = key.parameters().get("conv1.weight");
            int keyArrays = key.manager().getManagedArrays().size();
            int queryArrays = query.manager().getManagedArrays().size();
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                Networks.momentumUpdate(key, query, 0.75); // 0.75 * 2 + 0.25 * 4 = 2.5
                Networks.momentumUpdate(key, query, 0.75); // 0.75 * 2.5 + 0.25 * 4 = 2.875
            }
            assertSame(keyConv, key.parameters().get("conv1.weight"), "updated in place");
            for (Map.Entry<String, NDArray> e : key.stateDict().entrySet()) {
                NDArray a = e.getValue();
                if (e.getKey().endsWith("num_batches_tracked")) {
                    assertEquals(7L, a.getLong(), e.getKey());
                    continue;
                }
                float want = key.parameters().containsKey(e.getKey()) ? 2.875f : 0.5f;
                for (float v : a.toFloatArray()) {
                    assertEquals(want, v, 0f, e.getKey());
                }
                assertFalse(JniUtils.requiresGrad((PtNDArray) a), e.getKey() + " must not join a graph");
            }
            for (float v : query.parameters().get("fc.2.bias").toFloatArray()) {
                assertEquals(4f, v, 0f, "query untouched");
            }
            assertEquals(keyArrays, key.manager().getManagedArrays().size(), "no arrays left in the key manager");
            assertEquals(queryArrays, query.manager().getManagedArrays().size(), "no arrays left in the query manager");
            assertThrows(IllegalArgumentException.class, () -> Networks.momentumUpdate(key, query, 1.5));
        }
    }

    @Test
    void copyIsExactForParametersAndBuffersAndKeepsTensorIdentity() {
        try (NDManager root = NDManager.newBaseManager();
             ResNet src = ResNet.create(TINY, root, 1);
             ResNet dst = ResNet.create(TINY, root, 2)) {
            try (NDManager step = root.newSubManager()) {
                src.forward(step.randomNormal(new Shape(2, 3, 8, 8)), true); // non-trivial running stats
            }
            Networks.setRequiresGradient(dst, true);
            Map<String, NDArray> before = dst.stateDict();
            Networks.copy(src, dst);
            for (Map.Entry<String, NDArray> e : src.stateDict().entrySet()) {
                NDArray d = dst.stateDict().get(e.getKey());
                assertSame(before.get(e.getKey()), d, e.getKey());
                assertSame(dst.manager(), d.getManager());
                assertArrayEquals(e.getValue().toByteArray(), d.toByteArray(), e.getKey());
            }
            assertEquals(1L, dst.stateDict().get("bn1.num_batches_tracked").getLong());
            assertTrue(dst.parameters().get("conv1.weight").hasGradient(), "gradient flag kept");
        }
    }

    @Test
    void setRequiresGradientTouchesParametersOnlyAndCountIsTheirSize() {
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(TINY, root, 1)) {
            assertFalse(net.parameters().get("conv1.weight").hasGradient(), "parameters start without gradients");
            Networks.setRequiresGradient(net, true);
            net.parameters().values().forEach(p -> assertTrue(p.hasGradient()));
            net.buffers().values().forEach(b -> assertFalse(JniUtils.requiresGrad((PtNDArray) b)));
            Networks.setRequiresGradient(net, false);
            net.parameters().values().forEach(p -> assertFalse(JniUtils.requiresGrad((PtNDArray) p)));
            long n = 0;
            for (Map.Entry<String, long[]> e : TINY.stateShapes().entrySet()) {
                if (!e.getKey().contains("running_") && !e.getKey().endsWith("num_batches_tracked")) {
                    n += java.util.Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
                }
            }
            assertEquals(n, Networks.parameterCount(net));
            assertEquals(TINY.parameterCount(), Networks.parameterCount(net));
        }
    }

    /** DJL's PtGradientCollector does not zero gradients: they accumulate until zeroGradients. */
    @Test
    void gradientsAccumulateAcrossBackwardsUntilZeroed() {
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(TINY, root, 1)) {
            Networks.setRequiresGradient(net, true);
            NDArray w = net.parameters().get("fc.2.weight");
            float[] once = null;
            float[] twice;
            try (NDManager step = root.newSubManager()) {
                NDArray x = step.randomNormal(new Shape(2, 3, 8, 8));
                for (int i = 0; i < 2; i++) {
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        gc.backward(net.forward(x, false).sum());
                    }
                    if (i == 0) {
                        once = Networks.gradient(w, step).toFloatArray();
                    }
                }
                twice = Networks.gradient(w, step).toFloatArray();
            }
            double norm = 0;
            for (int j = 0; j < once.length; j++) {
                norm += Math.abs(once[j]);
                assertEquals(2 * once[j], twice[j], 1e-5 * Math.max(1, Math.abs(twice[j])), "accumulated gradient");
            }
            assertTrue(norm > 0);
            try (NDManager step = root.newSubManager()) {
                Networks.zeroGradients(net);
                for (float v : Networks.gradient(w, step).toFloatArray()) {
                    assertEquals(0f, v, 0f);
                }
            }
        }
    }

    /** Forward temporaries belong to the caller's step manager; the network's manager does not grow. */
    @Test
    void repeatedTrainingStepsLeaveTheNetworkManagerUnchanged() {
        try (NDManager root = NDManager.newBaseManager();
             ResNet net = ResNet.create(TINY.withBnSplits(2), root, 1)) {
            Networks.setRequiresGradient(net, true);
            int netArrays = net.manager().getManagedArrays().size();
            int rootArrays = root.getManagedArrays().size();
            for (int i = 0; i < 3; i++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray x = step.randomNormal(new Shape(4, 3, 8, 8));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray y = net.forward(x, true);
                        assertSame(step, y.getManager());
                        gc.backward(y.sum());
                    }
                    Networks.gradient(net.parameters().get("conv1.weight"), step);
                    net.forward(x, false);
                    Networks.zeroGradients(net);
                }
                assertEquals(netArrays, net.manager().getManagedArrays().size(), "network manager, step " + i);
                assertEquals(rootArrays, root.getManagedArrays().size(), "root manager, step " + i);
            }
        }
    }
}
