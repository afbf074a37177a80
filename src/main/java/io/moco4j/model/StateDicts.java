package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import io.moco4j.util.NoGrad;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** {@code load_state_dict} for the explicit-state networks ({@link ResNet}, {@link Mlp}). */
final class StateDicts {
    private StateDicts() {}

    /**
     * Copies values into {@code state}'s tensors in place (identity, manager and gradient flags are kept), converting
     * to each tensor's dtype. A shape mismatch is always an error; missing and unexpected keys only with
     * {@code strict}. {@code model} names the network in messages, {@code keysHint} and {@code shapeHint} say what
     * to check.
     */
    static void load(Map<String, NDArray> state, Map<String, NDArray> source, boolean strict, String model,
                     String keysHint, String shapeHint) {
        if (strict) {
            List<String> missing = new ArrayList<>();
            for (String k : state.keySet()) {
                if (!source.containsKey(k)) {
                    missing.add(k);
                }
            }
            List<String> unexpected = new ArrayList<>();
            for (String k : source.keySet()) {
                if (!state.containsKey(k)) {
                    unexpected.add(k);
                }
            }
            if (!missing.isEmpty() || !unexpected.isEmpty()) {
                throw new UserException("state dict does not match " + model + ": missing " + abbreviate(missing)
                        + ", unexpected " + abbreviate(unexpected) + "; " + keysHint);
            }
        }
        for (Map.Entry<String, NDArray> e : source.entrySet()) {
            NDArray dst = state.get(e.getKey());
            if (dst != null && !dst.getShape().equals(e.getValue().getShape())) {
                throw new UserException("state dict tensor " + e.getKey() + " has shape "
                        + Arrays.toString(e.getValue().getShape().getShape()) + " but the model expects "
                        + Arrays.toString(dst.getShape().getShape()) + "; " + shapeHint);
            }
        }
        try (NoGrad ignored = NoGrad.enter()) {
            for (Map.Entry<String, NDArray> e : source.entrySet()) {
                NDArray dst = state.get(e.getKey());
                if (dst != null) {
                    Tensors.copyInto(dst, e.getValue());
                }
            }
        }
    }

    private static String abbreviate(List<String> keys) {
        if (keys.size() <= 4) {
            return keys.toString();
        }
        return keys.subList(0, 4) + " and " + (keys.size() - 4) + " more";
    }
}
