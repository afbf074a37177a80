package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

class ResNetSmokeTest {
    @Test
    void forwardBackwardShapesWithSplitBatchNorm() {
        try (NDManager root = NDManager.newBaseManager()) {
            ResNetSpec spec = new ResNetSpec(18, true, 0.25, false, HeadSpec.mlp(0, 8), 2);
            try (ResNet net = ResNet.create(spec, root, 1)) {
                Networks.setRequiresGradient(net, true);
                try (NDManager step = root.newSubManager()) {
                    NDArray x = step.randomNormal(new Shape(4, 3, 16, 16));
                    try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                        NDArray y = net.forward(x, true);
                        assertEquals(new Shape(4, 8), y.getShape());
                        gc.backward(y.sum());
                    }
                    NDArray g = Networks.gradient(net.parameters().get("conv1.weight"), step);
                    assertTrue(g.abs().sum().getFloat() > 0);
                    NDArray f = net.features(x, false);
                    assertEquals(new Shape(4, 128), f.getShape());
                    assertThrows(IllegalArgumentException.class, () -> net.forward(step.zeros(new Shape(2, 1, 8, 8)), false));
                }
            }
        }
    }

    @Test
    void headNoneOutputsThePooledFeatures() {
        try (NDManager root = NDManager.newBaseManager();
             ResNet net = ResNet.create(new ResNetSpec(50, false, 1.0 / 32, false, HeadSpec.none(), 1), root, 1)) {
            assertEquals(64, net.featureDim());
            assertEquals(64, net.outputDim());
            try (NDManager step = root.newSubManager()) {
                NDArray x = step.randomNormal(new Shape(2, 3, 32, 32));
                assertArrayEquals(net.features(x, false).toFloatArray(), net.forward(x, false).toFloatArray());
            }
        }
    }
}
