package io.moco4j.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.config.MocoConfig;
import io.moco4j.interop.MocoCheckpointLayout.Description;
import io.moco4j.interop.MocoCheckpointLayout.Head;
import io.moco4j.interop.MocoCheckpointLayout.Kind;
import io.moco4j.interop.MocoCheckpointLayout.ResNetShape;
import io.moco4j.io.HostTensor;
import io.moco4j.io.InteropFiles;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNetSpec;
import io.moco4j.util.UserException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** From a PyTorch file's layout to our ResNetSpec and MocoConfig. */
class ImportedModelTest {

    static ImportedModel of(String file, String preset, Map<String, String> overrides) {
        Object tree = TorchCheckpointReader.load(InteropFiles.path(file));
        LinkedHashMap<String, HostTensor> sd = MocoCheckpointLayout.stateDict(tree);
        return ImportedModel.of(MocoCheckpointLayout.describe(tree), MocoCheckpointLayout.shapes(MocoCheckpointLayout.queryEncoder(sd)),
                preset, Map.of(), overrides);
    }

    @Test
    void mlpHeadTakesMocoV2AndTheStructureFromTheKeys() {
        ImportedModel m = of("resnet18_w4_cifar_mlp.pt", null, Map.of());
        // tools/golden/interop.py: NarrowResNet(BasicBlock, [2,2,2,2], base=4, cifar_stem=True) + MLP head to 8.
        assertEquals(new ResNetSpec(18, true, 4 / 64.0, false, HeadSpec.mlp(0, 8), 1), m.spec());
        MocoConfig.Model model = m.config().model();
        assertEquals("resnet18", model.arch());
        assertTrue(model.cifarStem());
        assertEquals(0.0625, model.width());
        assertEquals("mlp", model.head());
        assertEquals(0, model.headHidden(), "hidden 32 = the feature width, the official --mlp head");
        assertEquals(8, model.dim());
        assertEquals("moco-v2", m.preset());
        assertEquals(0.2, m.config().moco().temperature(), "MoCo v2's temperature");
        assertTrue(m.assumed().contains("moco.temperature=0.2"), m.assumed().toString());
        assertEquals("ResNet-18 x0.0625 (CIFAR stem) with an MLP head 32-32-8", m.describe());
    }

    @Test
    void linearHeadTakesMocoV1AndTheQueueLength() {
        ImportedModel m = of("moco_official_legacy.pth.tar", "moco-v1", Map.of("train.batch_size", "8", "moco.bn_splits", "2"));
        assertEquals(16, m.config().moco().queueSize(), "K from the (dim, K) queue");
        assertEquals("mlp", m.config().model().head(), "the file decides the head even with another preset");
        assertEquals(0.07, m.config().moco().temperature());
        assertTrue(m.assumed().stream().noneMatch(a -> a.startsWith("train.batch_size")), "user settings are not assumptions");

        ImportedModel plain = of("lincls_official.pth.tar", null, Map.of());
        assertEquals("moco-v1", plain.preset());
        assertEquals(HeadSpec.linear(10), plain.spec().head());
    }

    @Test
    void mlpHiddenWidthOtherThanTheFeatureWidthIsKept() {
        ResNetSpec spec = new ResNetSpec(18, true, 4 / 64.0, false, HeadSpec.mlp(64, 8), 1);
        Description d = new Description(Kind.TORCHVISION, new ResNetShape(18, 4, 4 / 64.0, true, 32), Head.MLP, 8, -1, null, null);
        ImportedModel m = ImportedModel.of(d, spec.stateShapes(), null, Map.of(), Map.of());
        assertEquals(spec, m.spec());
        assertEquals(64, m.config().model().headHidden());
    }

    @Test
    void refusesWhatTheModelCannotHold() {
        ResNetSpec spec = new ResNetSpec(18, false, 1, false, HeadSpec.linear(8), 1);
        LinkedHashMap<String, long[]> shapes = spec.stateShapes();
        Description r18 = new Description(Kind.TORCHVISION, new ResNetShape(18, 64, 1, false, 512), Head.LINEAR, 8, -1, null, null);

        Description r101 = new Description(Kind.TORCHVISION, new ResNetShape(101, 64, 1, false, 2048), Head.LINEAR, 8, -1, null, null);
        assertTrue(assertThrows(UserException.class, () -> ImportedModel.of(r101, shapes, null, Map.of(), Map.of()))
                .getMessage().contains("ResNet-101"));

        assertTrue(assertThrows(UserException.class, () -> ImportedModel.of(r18, shapes, null, Map.of(), Map.of("model.dim", "16")))
                .getMessage().contains("read from the file"));

        LinkedHashMap<String, long[]> wide = new LinkedHashMap<>(shapes);
        wide.put("layer2.0.conv1.weight", new long[] {100, 64, 3, 3}); // not torchvision's 128 channels
        String msg = assertThrows(UserException.class, () -> ImportedModel.of(r18, wide, null, Map.of(), Map.of())).getMessage();
        assertTrue(msg.contains("layer2.0.conv1.weight has shape [100, 64, 3, 3]"), msg);

        LinkedHashMap<String, long[]> extra = new LinkedHashMap<>(shapes);
        extra.put("se.fc1.weight", new long[] {4, 4});
        extra.remove("layer1.0.bn1.running_var");
        msg = assertThrows(UserException.class, () -> ImportedModel.of(r18, extra, null, Map.of(), Map.of())).getMessage();
        assertTrue(msg.contains("unexpected [se.fc1.weight]") && msg.contains("missing [layer1.0.bn1.running_var]"), msg);

        Description queued = new Description(Kind.OFFICIAL_MOCO, new ResNetShape(18, 64, 1, false, 512), Head.LINEAR, 8, 100, null, null);
        msg = assertThrows(UserException.class, () -> ImportedModel.of(queued, shapes, null, Map.of(), Map.of())).getMessage();
        assertTrue(msg.contains("queue of 100 keys is not a multiple of the 256 keys"), msg);
    }
}
