package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.UserException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Named sizes and the one-line messages for ViT settings and inputs that cannot work. */
class VitSpecTest {

    @Test
    void namedSizes() {
        assertEquals(new VitSpec(224, 16, 384, 12, 12, 4, true), VitSpec.named("vit_small", true));
        assertEquals(new VitSpec(224, 16, 768, 12, 12, 4, false), VitSpec.named("vit-base", false));
        assertEquals(192, VitSpec.named("vit_tiny", false).width());
        VitSpec cifar = VitSpec.named("vit_cifar_tiny", true);
        assertEquals(65, cifar.tokens());
        assertEquals(64, cifar.headDim());
        // the official vit_small(num_classes=0): 21,590,016 parameters with requires_grad (pos_embed excluded)
        assertEquals(21_590_016L, VitSpec.vitSmall(false).parameterCount());
        assertTrue(message(() -> VitSpec.named("vit_huge", false)).contains("use vit_small, vit_base"));
    }

    @Test
    void badSettingsNameTheProblemAndTheFix() {
        String m = message(() -> new VitSpec(30, 4, 192, 6, 3, 4, false));
        assertTrue(m.contains("30") && m.contains("patch size 4") && m.contains("multiple of 4"), m);
        m = message(() -> new VitSpec(32, 4, 190, 6, 5, 4, false));
        assertTrue(m.contains("190") && m.contains("multiple of 4") && m.contains("sin-cos"), m);
        m = message(() -> new VitSpec(32, 4, 192, 6, 5, 4, false));
        assertTrue(m.contains("192") && m.contains("5 attention heads"), m);
        m = message(() -> new VitSpec(32, 4, 192, 0, 3, 4, false));
        assertTrue(m.contains("depth") && !m.contains("\n"), m);
    }

    @Test
    void imagesTheModelCannotPatchAreRejected() {
        try (NDManager root = NDManager.newBaseManager();
                VisionTransformer vit = VisionTransformer.create(new VitSpec(16, 4, 16, 1, 2, 4, false), root, 1)) {
            String m = message(() -> vit.forward(root.zeros(new Shape(1, 3, 16, 18)), false));
            assertTrue(m.contains("16x18") && m.contains("patch size 4") && m.contains("multiples of 4"), m);
        }
    }

    @Test
    void checkpointsOfAnotherShapeOrBackboneAreRejected() {
        try (NDManager root = NDManager.newBaseManager();
                VisionTransformer vit = VisionTransformer.create(new VitSpec(16, 4, 16, 1, 2, 4, false), root, 1)) {
            String m = message(() -> vit.loadStateDict(Map.of("pos_embed", root.zeros(new Shape(1, 65, 16))), false));
            assertTrue(m.contains("pos_embed") && m.contains("32-px") && m.contains("image size"), m);
            m = message(() -> vit.loadStateDict(Map.of("conv1.weight", root.zeros(new Shape(64, 3, 7, 7))), false));
            assertTrue(m.contains("ResNet") && m.contains("ViT"), m);
            m = message(() -> vit.loadStateDict(Map.of("cls_token", root.zeros(new Shape(1, 1, 16))), true));
            assertTrue(m.contains("missing") && m.contains("pos_embed"), m);
        }
        try (NDManager root = NDManager.newBaseManager();
                ResNet net = ResNet.create(new ResNetSpec(18, true, 1.0 / 16, false, HeadSpec.none(), 1), root, 1)) {
            String m = message(() -> net.loadStateDict(Map.of("cls_token", root.zeros(new Shape(1, 1, 16))), false));
            assertTrue(m.contains("Vision Transformer") && m.contains("ResNet-18"), m);
        }
    }

    private static String message(Runnable r) {
        return assertThrows(UserException.class, r::run).getMessage();
    }
}
