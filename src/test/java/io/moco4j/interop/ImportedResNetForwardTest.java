package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.interop.MocoCheckpointLayout.Description;
import io.moco4j.io.InteropFiles;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.testutil.Golden;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A torch.save'd torchvision-structured ResNet-18 (width 4/64, CIFAR stem, MLP head): imported, its eval output equals PyTorch's. */
class ImportedResNetForwardTest {

    @Test
    void importedWeightsGiveThePyTorchOutput() {
        Object checkpoint = TorchCheckpointReader.load(InteropFiles.path("resnet18_w4_cifar_mlp.pt"));
        Description d = MocoCheckpointLayout.describe(checkpoint);
        // Only the structure read from the file decides the spec.
        ResNetSpec spec = new ResNetSpec(d.backbone().depth(), d.backbone().cifarStem(), d.backbone().widthMultiplier(), false,
                HeadSpec.mlp(0, d.dim()), 1);
        Map<String, NpyArray> io = Golden.npz("interop/resnet18_w4_cifar_mlp_io.npz");
        try (NDManager m = NDManager.newBaseManager(); ResNet net = ResNet.create(spec, m, 123)) {
            net.loadStateDict(StateDictFiles.toNDArrays(MocoCheckpointLayout.stateDict(checkpoint), m), true);
            NpyArray x = io.get("input");
            NDArray input = m.create(x.toFloatArray(), new Shape(x.shape()));
            float[] out = net.forward(input, false).toFloatArray();
            float[] feats = net.features(input, false).toFloatArray();
            assertClose(io.get("output").toFloatArray(), out, "output");
            assertClose(io.get("features").toFloatArray(), feats, "features");
        }
    }

    /**
     * Measured (full suite, 2026-12-06, 1 and 2 libtorch threads alike): max abs error 3.0e-8 on the features and
     * 7.5e-9 on the output, i.e. float32 rounding of a different summation order. The bound stays 1e-4, the ResNet
     * forward golden's: what another CPU's conv kernel (oneDNN vs native) adds to a forward has not been measured
     * here, and a wrong mapping (a swapped BN buffer, a transposed fc) moves these outputs by 1e-1 or more.
     */
    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double maxErr = 0;
        for (int i = 0; i < want.length; i++) {
            maxErr = Math.max(maxErr, Math.abs(want[i] - got[i]));
        }
        System.out.println("imported ResNet " + what + " max abs error vs PyTorch: " + maxErr);
        assertTrue(maxErr < 1e-4, what + " max abs error " + maxErr);
        assertArrayEquals(want, got, 1e-4f, what);
    }
}
