package io.moco4j.model;

import static io.moco4j.model.TensorAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.optim.AdamW;
import io.moco4j.optim.AdamWConfig;
import io.moco4j.testutil.Golden;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A torch.save'd checkpoint in main_moco.py's layout after 3 MoCo_ViT steps (tools/golden/vit.py): its base and
 * momentum encoders load into {@link VisionTransformer} (the {@code head.*} projector dropped) and give PyTorch's cls
 * features; its AdamW state, indexed by position over {@code model.parameters()}, maps onto the backbone's names and
 * loads into {@link AdamW}, with no state for the frozen tensors.
 */
class VitCheckpointImportTest {
    private static final JsonNode META = Golden.json("vit/vit.json").get("moco_step");

    @Test
    void officialCheckpointGivesThePyTorchFeatures() throws URISyntaxException {
        Map<?, ?> ckpt = (Map<?, ?>) TorchCheckpointReader.load(
                Path.of(VitCheckpointImportTest.class.getResource("/golden/vit/checkpoint.pth.tar").toURI()));
        assertEquals("vit_tiny16", ckpt.get("arch"));
        Map<?, ?> sd = (Map<?, ?>) ckpt.get("state_dict");
        Map<String, NpyArray> f = Golden.npz("vit/checkpoint_features.npz");
        JsonNode s = META.get("spec");
        VitSpec spec = new VitSpec(s.get("img").asInt(), s.get("patch").asInt(), s.get("dim").asInt(),
                s.get("depth").asInt(), s.get("heads").asInt(), 4, true);
        try (NDManager root = NDManager.newBaseManager()) {
            for (String side : new String[] {"base", "momentum"}) {
                try (VisionTransformer vit = VisionTransformer.create(spec, root, 1)) {
                    vit.loadStateDict(backbone(sd, "module." + side + "_encoder.", root), true);
                    NDArray x = TensorAsserts.toNd(f.get("x"), root);
                    assertClose(side + " encoder cls features", f.get(side), vit.forward(x, false), 1e-5);
                }
            }
            checkOptimizerState(ckpt, spec, root);
        }
    }

    private static void checkOptimizerState(Map<?, ?> ckpt, VitSpec spec, NDManager root) {
        Map<?, ?> opt = (Map<?, ?>) ckpt.get("optimizer");
        Map<?, ?> state = (Map<?, ?>) opt.get("state");
        List<?> ids = (List<?>) ((Map<?, ?>) ((List<?>) opt.get("param_groups")).get(0)).get("params");
        JsonNode order = META.get("optimizer_param_order");
        assertEquals(order.size(), ids.size(), "one id per model.parameters() entry");
        Map<String, NDArray> ours = new LinkedHashMap<>();
        String prefix = "module.base_encoder.";
        for (int i = 0; i < ids.size(); i++) {
            String name = order.get(i).asText();
            Map<?, ?> st = (Map<?, ?>) state.get(ids.get(i));
            if (!name.startsWith(prefix) || name.startsWith(prefix + "head.")) {
                continue;
            }
            String key = name.substring(prefix.length());
            boolean trained = spec.stateShapes().containsKey(key) && !List.of("pos_embed", "patch_embed.proj.weight",
                    "patch_embed.proj.bias").contains(key);
            assertEquals(trained, st != null, key + ": torch keeps AdamW state exactly for the trained tensors");
            if (st != null) {
                ours.put(key + ".exp_avg", ((HostTensor) st.get("exp_avg")).toNDArray(root));
                ours.put(key + ".exp_avg_sq", ((HostTensor) st.get("exp_avg_sq")).toNDArray(root));
                ours.put(key + ".step", ((HostTensor) st.get("step")).toNDArray(root));
            }
        }
        try (AdamW adamw = new AdamW(AdamWConfig.of(0.1))) {
            adamw.loadState(ours);
            assertEquals(ours.keySet(), adamw.state().keySet());
            assertEquals(3f, adamw.state().get("cls_token.step").getFloat(), "3 steps");
        }
        assertFalse(ours.isEmpty());
    }

    /** The backbone's tensors under {@code prefix}, without the projector ({@code head.*}). */
    static Map<String, NDArray> backbone(Map<?, ?> sd, String prefix, NDManager m) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : sd.entrySet()) {
            String k = (String) e.getKey();
            if (k.startsWith(prefix) && !k.startsWith(prefix + "head.")) {
                out.put(k.substring(prefix.length()), ((HostTensor) e.getValue()).toNDArray(m));
            }
        }
        assertTrue(out.containsKey("pos_embed"), prefix + " has a ViT backbone");
        return out;
    }
}
