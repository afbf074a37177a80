package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.interop.MocoCheckpointLayout.Description;
import io.moco4j.interop.MocoCheckpointLayout.Head;
import io.moco4j.interop.MocoCheckpointLayout.Kind;
import io.moco4j.interop.MocoCheckpointLayout.ResNetShape;
import io.moco4j.io.HostTensor;
import io.moco4j.io.InteropFiles;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MocoCheckpointLayoutTest {

    @Test
    void describesTheOfficialMocoCheckpoint() {
        Description d = MocoCheckpointLayout.describe(TorchCheckpointReader.load(InteropFiles.path("moco_official_legacy.pth.tar")));
        assertEquals(Kind.OFFICIAL_MOCO, d.kind());
        assertEquals(new ResNetShape(18, 2, 2 / 64.0, false, 16), d.backbone());
        assertEquals(Head.MLP, d.head());
        assertEquals(8, d.dim());
        assertEquals(16, d.queueSize());
        assertEquals(200L, d.epoch());
        assertEquals("resnet18", d.arch());
    }

    @Test
    void describesLinclsTorchvisionAndCifarNetworks() {
        Description lincls = MocoCheckpointLayout.describe(TorchCheckpointReader.load(InteropFiles.path("lincls_official.pth.tar")));
        assertEquals(Kind.OFFICIAL_LINCLS, lincls.kind());
        assertEquals(Head.LINEAR, lincls.head());
        assertEquals(10, lincls.dim());
        assertEquals(-1, lincls.queueSize());
        assertEquals(100L, lincls.epoch());

        Description r50 = MocoCheckpointLayout.describe(TorchCheckpointReader.load(InteropFiles.path("torchvision_r50_narrow.pth")));
        assertEquals(Kind.TORCHVISION, r50.kind());
        assertEquals(new ResNetShape(50, 1, 1 / 64.0, false, 32), r50.backbone());
        assertEquals(5, r50.dim());
        assertEquals(null, r50.epoch());

        Description cifar = MocoCheckpointLayout.describe(TorchCheckpointReader.load(InteropFiles.path("resnet18_w4_cifar_mlp.pt")));
        assertEquals(new ResNetShape(18, 4, 4 / 64.0, true, 32), cifar.backbone());
        assertEquals(Head.MLP, cifar.head());
        assertEquals(8, cifar.dim());
    }

    @Test
    void officialQueueIsTransposedIntoOneKeyPerRow() {
        Map<String, HostTensor> official = MocoCheckpointLayout.stateDict(
                TorchCheckpointReader.load(InteropFiles.path("moco_official_legacy.pth.tar")));
        LinkedHashMap<String, HostTensor> internal = MocoCheckpointLayout.officialToInternal(official);
        assertEquals(Kind.MOCO4J, MocoCheckpointLayout.kind(internal));
        NpyArray queue = Golden.npz("interop/moco_official_expected.npz").get("module.queue"); // (dim 8, K 16)
        float[] expected = queue.toFloatArray();
        HostTensor q = internal.get("queue");
        assertArrayEquals(new long[] {16, 8}, q.shape());
        float[] got = q.toFloatArray();
        for (int k = 0; k < 16; k++) {
            for (int d = 0; d < 8; d++) {
                assertEquals(expected[d * 16 + k], got[k * 8 + d], 0f);
            }
        }
        assertEquals(official.get("module.queue_ptr"), internal.get("queue_ptr"));
        assertEquals(official.get("module.encoder_k.layer2.0.conv1.weight"), internal.get("encoder_k.layer2.0.conv1.weight"));
        assertEquals(official, MocoCheckpointLayout.internalToOfficial(internal));
        assertEquals(List.copyOf(official.keySet()).subList(0, 3).stream().map(k -> k.substring(7)).toList(),
                List.copyOf(internal.keySet()).subList(0, 3));
    }

    @Test
    void backboneIsTheQueryEncoderWithoutItsHeadForEveryLayout() {
        Map<String, HostTensor> official = MocoCheckpointLayout.stateDict(
                TorchCheckpointReader.load(InteropFiles.path("moco_official_legacy.pth.tar")));
        LinkedHashMap<String, HostTensor> fromOfficial = MocoCheckpointLayout.backbone(official);
        assertEquals(fromOfficial, MocoCheckpointLayout.backbone(MocoCheckpointLayout.officialToInternal(official)));
        assertTrue(fromOfficial.keySet().stream().noneMatch(k -> k.startsWith("fc") || k.contains("encoder") || k.contains("queue")));
        assertEquals(official.get("module.encoder_q.conv1.weight"), fromOfficial.get("conv1.weight"));
        // 1 stem conv + 1 stem bn(5) + 8 blocks * (2 convs + 2 bns * 5) + 3 downsample * (1 + 5) = 6 + 96 + 18
        assertEquals(120, fromOfficial.size());

        Map<String, HostTensor> lincls = MocoCheckpointLayout.stateDict(
                TorchCheckpointReader.load(InteropFiles.path("lincls_official.pth.tar")));
        assertEquals(List.copyOf(fromOfficial.keySet()), List.copyOf(MocoCheckpointLayout.backbone(lincls).keySet()));
    }

    @Test
    void infersDepthFromBlockCountsAndBottlenecks() {
        assertEquals(18, MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {2, 2, 2, 2}, false, 64)).depth());
        assertEquals(34, MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {3, 4, 6, 3}, false, 64)).depth());
        ResNetShape r50 = MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {3, 4, 6, 3}, true, 128));
        assertEquals(new ResNetShape(50, 128, 2.0, false, 4096), r50);
        assertEquals(101, MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {3, 4, 23, 3}, true, 64)).depth());
        assertEquals(152, MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {3, 8, 36, 3}, true, 64)).depth());
        UserException e = assertThrows(UserException.class,
                () -> MocoCheckpointLayout.inferResNet(resnetKeys(new int[] {1, 1, 1, 1}, false, 64)));
        assertTrue(e.getMessage().contains("[1, 1, 1, 1]"), e.getMessage());
        assertThrows(UserException.class, () -> MocoCheckpointLayout.inferResNet(Map.of("fc.weight", new long[] {2, 2})));
    }

    @Test
    void unknownLayoutsAndMissingStateDictsAreUserErrors() {
        assertThrows(UserException.class, () -> MocoCheckpointLayout.kind(Map.of("encoder.0.weight", 1)));
        assertThrows(UserException.class, () -> MocoCheckpointLayout.stateDict(Map.of("epoch", 3L)));
    }

    /** Keys and shapes of a torchvision ResNet with the given blocks per stage (only what inference reads). */
    private static Map<String, long[]> resnetKeys(int[] blocks, boolean bottleneck, int stem) {
        LinkedHashMap<String, long[]> m = new LinkedHashMap<>();
        m.put("conv1.weight", new long[] {stem, 3, 7, 7});
        for (int s = 0; s < 4; s++) {
            long planes = (long) stem << s;
            for (int b = 0; b < blocks[s]; b++) {
                String p = "layer" + (s + 1) + "." + b + ".";
                m.put(p + "conv1.weight", new long[] {planes, planes, 1, 1});
                m.put(p + "conv2.weight", new long[] {planes, planes, 3, 3});
                if (bottleneck) {
                    m.put(p + "conv3.weight", new long[] {planes * 4, planes, 1, 1});
                }
            }
        }
        return m;
    }
}
