package io.moco4j.model;

import static io.moco4j.model.TensorAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The ViT backbone against the official vits.py on timm 0.4.9 (tools/golden/vit.py): the fixed sin-cos position
 * embedding, state_dict names and shapes of every named size, forward and backward of a tiny ViT with the official
 * weights, and a run at another image size than the model was built for.
 */
class VisionTransformerGoldenTest {
    private static final double TOL = 1e-5;
    private static final JsonNode META = Golden.json("vit/vit.json");

    @Test
    void sinCosEmbeddingEqualsTheOfficialOne() {
        Map<String, NpyArray> g = Golden.npz("vit/pos_embed.npz");
        try (NDManager m = NDManager.newBaseManager()) {
            assertClose("8x8 grid, D 192", g.get("d192_g8x8"), SinCosPositionEmbedding.create(m, 8, 8, 192), 1e-6);
            // non-square: the official formula's (m / rows, m % rows) indexing, kept on purpose
            assertClose("4x6 grid, D 16", g.get("d16_g4x6"), SinCosPositionEmbedding.create(m, 4, 6, 16), 1e-6);
            try (VisionTransformer vit = VisionTransformer.create(new VitSpec(32, 4, 192, 1, 3, 4, false), m, 1)) {
                assertClose("a fresh model's pos_embed", g.get("d192_g8x8"), vit.stateDict().get("pos_embed"), 1e-6);
            }
        }
    }

    @Test
    void stateDictNamesShapesAndTrainabilityAreTimms() {
        JsonNode names = META.get("names");
        check(names.get("tiny"), new VitSpec(16, 4, 32, 2, 4, 4, true));
        check(names.get("vit_small"), VitSpec.vitSmall(true));
        check(names.get("vit_base"), VitSpec.vitBase(true));
        check(names.get("vit_tiny"), VitSpec.vitTiny(true));
        check(names.get("vit_cifar_tiny"), VitSpec.vitCifarTiny(true));
    }

    private static void check(JsonNode expected, VitSpec spec) {
        List<String> keys = new ArrayList<>();
        expected.get("keys").forEach(k -> keys.add(k.asText()));
        Map<String, long[]> shapes = spec.stateShapes();
        assertEquals(keys, new ArrayList<>(shapes.keySet()), spec + ": keys in order");
        for (int i = 0; i < keys.size(); i++) {
            long[] want = new long[expected.get("shapes").get(i).size()];
            for (int j = 0; j < want.length; j++) {
                want[j] = expected.get("shapes").get(i).get(j).asLong();
            }
            assertArrayEquals(want, shapes.get(keys.get(i)), spec + ": shape of " + keys.get(i));
        }
        List<String> trainable = new ArrayList<>();
        expected.get("trainable").forEach(k -> trainable.add(k.asText()));
        List<String> ours = new ArrayList<>();
        for (String k : shapes.keySet()) {
            if (!spec.isFrozen(k)) {
                ours.add(k);
            }
        }
        assertEquals(trainable, ours, spec + ": trained tensors (requires_grad) with stop_grad_conv1");
    }

    @Test
    void forwardAndBackwardMatchTheOfficialModel() {
        Map<String, NpyArray> g = Golden.npz("vit/forward.npz");
        try (NDManager root = NDManager.newBaseManager(); VisionTransformer vit = VisionTransformer.create(tiny(false), root, 3)) {
            vit.loadStateDict(TensorAsserts.group(g, "state", root), true);
            assertTrue(vit.trainableParameters().containsKey("patch_embed.proj.weight"), "trained without stop-grad");
            assertFalse(vit.trainableParameters().containsKey("pos_embed"), "pos_embed is never trained");
            try (NDManager step = root.newSubManager()) {
                NDArray x = TensorAsserts.toNd(g.get("x"), step);
                assertClose("eval features", g.get("out"), vit.forward(x, false), TOL);
                x.setRequiresGradient(true);
                NDArray r = TensorAsserts.toNd(g.get("r"), step);
                train(vit);
                try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                    NDArray out = vit.forward(x, true);
                    NDArray loss = out.mul(r).sum();
                    gc.backward(loss);
                    assertClose("train features", g.get("out"), out, TOL);
                    double want = g.get("loss").data().duplicate().order(ByteOrder.LITTLE_ENDIAN).getDouble(0);
                    assertEquals(want, loss.getFloat(), TOL * Math.max(1, Math.abs(want)), "loss");
                }
                assertClose("d loss / d x", g.get("grad_x"), x.getGradient(), TOL);
                int checked = 0;
                for (Map.Entry<String, NDArray> e : vit.trainableParameters().entrySet()) {
                    assertClose("d loss / d " + e.getKey(), g.get("grad/" + e.getKey()),
                            Networks.gradient(e.getValue(), step), TOL);
                    checked++;
                }
                assertEquals(vit.spec().stateShapes().size() - 1, checked, "every tensor but pos_embed has a gradient");
            }
        }
    }

    @Test
    void anotherImageSizeRecomputesTheEmbedding() {
        Map<String, NpyArray> g = Golden.npz("vit/forward.npz");
        try (NDManager root = NDManager.newBaseManager(); VisionTransformer vit = VisionTransformer.create(tiny(true), root, 3)) {
            vit.loadStateDict(TensorAsserts.group(g, "state", root), true);
            try (NDManager step = root.newSubManager()) {
                NDArray x = TensorAsserts.toNd(g.get("x_wide"), step);
                assertClose("16x24 images on a model built for 16x16", g.get("out_wide"), vit.forward(x, false), TOL);
                // the stored embedding is untouched and the built size still gives the built result
                assertEquals(new Shape(1, 17, 32), vit.stateDict().get("pos_embed").getShape());
                assertClose("built size after", g.get("out"), vit.forward(TensorAsserts.toNd(g.get("x"), step), false), TOL);
            }
        }
    }

    @Test
    void stopGradConv1FreezesThePatchProjection() {
        try (NDManager root = NDManager.newBaseManager(); VisionTransformer vit = VisionTransformer.create(tiny(true), root, 3)) {
            assertEquals(List.of("pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"),
                    new ArrayList<>(vit.frozenParameters().keySet()));
            assertFalse(vit.trainableParameters().containsKey("patch_embed.proj.weight"));
            assertEquals(new ArrayList<>(vit.stateDict().keySet()), new ArrayList<>(vit.parameters().keySet()),
                    "every tensor is an nn.Parameter, in state_dict order (the official parameters() order)");
            assertTrue(vit.buffers().isEmpty());
            assertEquals(vit.spec().parameterCount(), vit.trainableParameters().values().stream().mapToLong(NDArray::size).sum());
            train(vit);
            assertFalse(vit.stateDict().get("patch_embed.proj.weight").hasGradient(), "frozen stays frozen");
        }
    }

    /** What the engine does: gradients for the trainable parameters only. */
    static void train(VisionTransformer vit) {
        vit.trainableParameters().values().forEach(p -> p.setRequiresGradient(true));
    }

    static VitSpec tiny(boolean stopGrad) {
        JsonNode t = META.get("tiny");
        return new VitSpec(t.get("img").asInt(), t.get("patch").asInt(), t.get("dim").asInt(), t.get("depth").asInt(),
                t.get("heads").asInt(), 4, stopGrad);
    }
}
