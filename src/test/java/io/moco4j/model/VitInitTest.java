package io.moco4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.testutil.Golden;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A freshly built ViT (img 32, patch 4, D 192, depth 2, 3 heads) has, tensor by tensor, the statistics of the
 * official vits.py init measured in tools/golden/vit.py: mean, standard deviation and extremes (the extremes of a
 * uniform tensor with 9k+ values sit within a fraction of a percent of its bound). Different random streams, so
 * the comparison allows sampling error.
 */
class VitInitTest {

    @Test
    void everyTensorHasTheOfficialInitStatistics() {
        JsonNode stats = Golden.json("vit/vit.json").get("init_stats");
        try (NDManager root = NDManager.newBaseManager();
                VisionTransformer vit = VisionTransformer.create(new VitSpec(32, 4, 192, 2, 3, 4, false), root, 21)) {
            Map<String, NDArray> state = vit.stateDict();
            List<String> keys = new ArrayList<>();
            stats.fieldNames().forEachRemaining(keys::add);
            assertEquals(keys, new ArrayList<>(state.keySet()), "same tensors");
            for (Iterator<String> it = stats.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                JsonNode g = stats.get(k);
                float[] v = state.get(k).toFloatArray();
                assertEquals(g.get("numel").asInt(), v.length, k + ": size");
                double mean = 0;
                double min = Double.POSITIVE_INFINITY;
                double max = Double.NEGATIVE_INFINITY;
                for (float x : v) {
                    mean += x;
                    min = Math.min(min, x);
                    max = Math.max(max, x);
                }
                mean /= v.length;
                double ss = 0;
                for (float x : v) {
                    ss += (x - mean) * (x - mean);
                }
                double std = v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0;
                double gStd = g.get("std").asDouble();
                if (gStd == 0 || k.equals("pos_embed")) { // constants and the fixed embedding: the same values
                    assertEquals(g.get("mean").asDouble(), mean, 1e-6, k + ": mean");
                    assertEquals(gStd, std, 1e-6, k + ": std");
                    assertEquals(g.get("min").asDouble(), min, 1e-6, k + ": min");
                    assertEquals(g.get("max").asDouble(), max, 1e-6, k + ": max");
                    continue;
                }
                boolean small = v.length < 1000; // the cls token: 192 normal samples
                assertEquals(gStd, std, (small ? 0.25 : 0.05) * gStd, k + ": std");
                assertEquals(g.get("mean").asDouble(), mean, 6 * gStd / Math.sqrt(v.length), k + ": mean");
                if (!small) {
                    double bound = Math.max(Math.abs(g.get("min").asDouble()), g.get("max").asDouble());
                    assertEquals(g.get("min").asDouble(), min, 0.01 * bound, k + ": min");
                    assertEquals(g.get("max").asDouble(), max, 0.01 * bound, k + ": max");
                    assertTrue(Math.max(-min, max) <= bound * 1.001, k + ": within the official bound " + bound);
                }
            }
        }
    }

    @Test
    void theSameSeedGivesTheSameWeightsAndAnotherSeedOthers() {
        VitSpec spec = new VitSpec(16, 4, 16, 1, 2, 4, false);
        try (NDManager root = NDManager.newBaseManager();
                VisionTransformer a = VisionTransformer.create(spec, root, 5);
                VisionTransformer b = VisionTransformer.create(spec, root, 5);
                VisionTransformer c = VisionTransformer.create(spec, root, 6)) {
            String k = "blocks.0.attn.qkv.weight";
            assertTrue(a.stateDict().get(k).contentEquals(b.stateDict().get(k)));
            assertTrue(!a.stateDict().get(k).contentEquals(c.stateDict().get(k)));
        }
    }
}
