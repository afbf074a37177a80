package io.moco4j.model;

import static io.moco4j.model.TensorAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Width-reduced torchvision ResNets with random weights and random BN statistics (tools/golden/model.py):
 * eval and train outputs, running statistics after one train forward, gradients of a scalar loss.
 */
class ResNetForwardGoldenTest {
    /**
     * Outputs, running statistics (relative to max(1, largest value)). Ours against the golden at 1 thread (2026-12-06,
     * MOCO4J_TOLERANCE_REPORT=1): at most 1.4e-5 (a train-mode output) at 1 and at 2 threads, 7x below; torch 1.13's own thread spread of
     * this golden is not measured yet (docs/TOLERANCES.md).
     */
    private static final double TOL = 1e-4;
    /**
     * Weight gradients sum over the whole batch and image, so their rounding depends on the kernel's summation order.
     * Measured on conv1.weight of the ImageNet-stem ResNet-50 (224 px): libtorch 2.7.1's oneDNN and native kernels
     * differ by 2.0e-4 of the largest value (1 and 2 threads alike), and each differs from PyTorch 1.13's golden by
     * 1.1-1.3e-4; the CIFAR-stem ResNet-18 by 1.5e-6. 1e-3 is five times the widest measured spread; a wrong gradient
     * (a missing BatchNorm term, a wrong stride) is off by 1e-1 or more.
     */
    private static final double GRAD_TOL = 1e-3;

    @Test
    void resnet18CifarStemMlpHead() {
        ResNetSpec spec = new ResNetSpec(18, true, 1.0 / 16, false, HeadSpec.mlp(0, 16), 1);
        check("model/r18_cifar_mlp.npz", spec, new String[] {"conv1.weight", "fc.0.weight", "fc.2.weight"});
    }

    @Test
    void resnet50ImagenetStemLinearHead() {
        ResNetSpec spec = new ResNetSpec(50, false, 1.0 / 32, false, HeadSpec.linear(10), 1);
        check("model/r50_linear.npz", spec, new String[] {"conv1.weight", "fc.weight", "fc.bias"});
    }

    @Test
    void resnet18SplitBatchNormTwoGroups() {
        Map<String, NpyArray> g = Golden.npz("model/r18_cifar_mlp.npz");
        ResNetSpec spec = new ResNetSpec(18, true, 1.0 / 16, false, HeadSpec.mlp(0, 16), 2);
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(spec, root, 5)) {
            net.loadStateDict(TensorAsserts.group(g, "state", root), true);
            try (NDManager step = root.newSubManager()) {
                NDArray x = TensorAsserts.toNd(g.get("x"), step);
                assertClose("split-2 train output", g.get("out_train_split2"), net.forward(x, true), TOL);
            }
            for (Map.Entry<String, NDArray> e : net.buffers().entrySet()) {
                if (e.getKey().contains("running")) {
                    assertClose("split-2 " + e.getKey(), g.get("after_split2/" + e.getKey()), e.getValue(), TOL);
                }
            }
        }
    }

    private static void check(String file, ResNetSpec spec, String[] gradKeys) {
        Map<String, NpyArray> g = Golden.npz(file);
        try (NDManager root = NDManager.newBaseManager(); ResNet net = ResNet.create(spec, root, 11)) {
            net.loadStateDict(TensorAsserts.group(g, "state", root), true);
            try (NDManager step = root.newSubManager()) {
                NDArray x = TensorAsserts.toNd(g.get("x"), step);
                assertClose("eval output", g.get("out_eval"), net.forward(x, false), TOL);
                assertClose("eval features", g.get("features_eval"), net.features(x, false), TOL);
                NDArray r = TensorAsserts.toNd(g.get("loss_weights"), step);
                Networks.setRequiresGradient(net, true);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray out = net.forward(x, true);
                    NDArray loss = out.mul(r).sum();
                    gc.backward(loss);
                    assertClose("train output", g.get("out_train"), out, TOL);
                    assertEquals(g.get("loss").data().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).getDouble(0),
                            loss.getFloat(), TOL * Math.max(1, Math.abs(loss.getFloat())), "loss");
                }
                for (String k : gradKeys) {
                    assertClose("d loss / d " + k, g.get("grad/" + k),
                            Networks.gradient(net.parameters().get(k), step), GRAD_TOL);
                }
            }
            for (Map.Entry<String, NDArray> e : net.buffers().entrySet()) {
                assertClose("after one train forward: " + e.getKey(), g.get("after/" + e.getKey()), e.getValue(), TOL);
            }
        }
    }
}
