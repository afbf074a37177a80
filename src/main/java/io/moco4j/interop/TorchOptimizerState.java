package io.moco4j.interop;

import io.moco4j.io.HostTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Converts between a torch optimizer's {@code state_dict()} and MoCo4J's optimizer state keyed by parameter name, for
 * SGD (MoCo v1/v2), moco-v3's LARS and torch's AdamW: one mapper, a slot table per optimizer.
 *
 * <p>torch keys its optimizer state by position: {@code param_groups[g]['params']} lists integer ids, one per
 * parameter in the order the parameters were given to the optimizer, and {@code state[id][slot]} holds the slots of
 * a parameter that has been stepped. Both official {@code main_moco.py} build the optimizer from
 * {@code model.parameters()}: v1/v2 every {@code encoder_q} then every {@code encoder_k} parameter, v3 the base
 * encoder, the momentum encoder, then the predictor. The key/momentum encoder's parameters never get a gradient, so
 * they never get state. A caller therefore describes the positions as a list of names, null for a parameter that
 * is never stepped.
 */
public final class TorchOptimizerState {

    /** How an optimizer keeps its per-parameter state: torch's slot names, in torch's order, and ours. */
    public enum Slots {
        /** torch.optim.SGD: one momentum buffer, named after the parameter; None (absent) without momentum. */
        SGD(new String[][] {{"momentum_buffer", ""}}, true),
        /** moco-v3's LARS: one momentum buffer {@code mu}, named after the parameter. */
        LARS(new String[][] {{"mu", ""}}, false),
        /** torch.optim.AdamW: {@code step} (a number, or a 0-dim float tensor since torch 1.12) and the two moments. */
        ADAMW(new String[][] {{"step", ".step"}, {"exp_avg", ".exp_avg"}, {"exp_avg_sq", ".exp_avg_sq"}}, false);

        /** torch slot name -> suffix of our state key (parameter name + suffix), in torch's order. */
        final Map<String, String> suffixes = new LinkedHashMap<>();
        /** Whether a stepped parameter may lack the slot (then it has no state). */
        final boolean mayBeAbsent;

        Slots(String[][] table, boolean mayBeAbsent) {
            for (String[] row : table) {
                suffixes.put(row[0], row[1]);
            }
            this.mayBeAbsent = mayBeAbsent;
        }

        /** Slots that hold a step count rather than a tensor of the parameter's shape. */
        private static final Set<String> COUNTS = Set.of("step");

        /** Our key of the first slot that has the parameter's shape: present exactly when the parameter has state. */
        String presenceSuffix(String name) {
            for (Map.Entry<String, String> e : suffixes.entrySet()) {
                if (!COUNTS.contains(e.getKey())) {
                    return name + e.getValue();
                }
            }
            throw new IllegalStateException(name());
        }
    }

    /**
     * The outcome of reading an optimizer state dict.
     *
     * @param state state tensors keyed by parameter name + slot suffix, in parameter then slot order (empty when
     *     nothing could be mapped)
     * @param problem why the state could not be mapped, or null when it was
     * @param settings the first parameter group's {@code momentum}, {@code weight_decay}, {@code nesterov} and
     *     {@code lr} as found (lr is the value of the epoch the file was saved at, after any schedule)
     * @param droppedNeverStepped parameters at unnamed positions (key/momentum encoder: EMA copies) that had state
     */
    public record Mapping(LinkedHashMap<String, HostTensor> state, String problem, Map<String, Object> settings,
                          int droppedNeverStepped) {
        public boolean mapped() {
            return problem == null;
        }
    }

    private TorchOptimizerState() {}

    /**
     * Maps a torch optimizer state dict onto parameter names.
     *
     * @param optimizer the {@code checkpoint['optimizer']} object (may be null)
     * @param positions the name of the parameter at each position, null for one that is never stepped; the file may
     *     also stop before trailing null positions (an optimizer built over the query encoder only)
     * @param shapes the shape of every named parameter
     */
    public static Mapping read(Object optimizer, List<String> positions, Map<String, long[]> shapes, Slots slots) {
        if (optimizer == null) {
            return failed("the file has no optimizer state", Map.of());
        }
        if (!(optimizer instanceof Map<?, ?> sd) || !(sd.get("state") instanceof Map<?, ?> state)
                || !(sd.get("param_groups") instanceof List<?> groups) || groups.isEmpty()) {
            return failed("'optimizer' is not a torch optimizer state dict (no 'state' and 'param_groups')", Map.of());
        }
        List<Object> ids = new ArrayList<>();
        for (Object g : groups) {
            if (!(g instanceof Map<?, ?> group) || !(group.get("params") instanceof List<?> params)) {
                return failed("an optimizer parameter group has no 'params' list", Map.of());
            }
            ids.addAll(params);
        }
        Map<String, Object> settings = settings(optimizer);
        int withoutTrailing = positions.size();
        while (withoutTrailing > 0 && positions.get(withoutTrailing - 1) == null) {
            withoutTrailing--;
        }
        if (ids.size() != positions.size() && ids.size() != withoutTrailing) {
            return failed("the optimizer holds " + ids.size() + " parameters but the model has " + positions.size()
                    + (withoutTrailing == positions.size() ? "" : " (" + withoutTrailing + " without the never-stepped key encoder)"),
                    settings);
        }
        Map<Object, Integer> position = new HashMap<>();
        for (int i = ids.size() - 1; i >= 0; i--) {
            position.put(ids.get(i), i);
        }
        Map<String, HostTensor> found = new HashMap<>();
        int dropped = 0;
        for (Map.Entry<?, ?> e : state.entrySet()) {
            Integer pos = position.get(e.getKey());
            if (pos == null) {
                return failed("optimizer state id " + e.getKey() + " is in no parameter group", settings);
            }
            if (!(e.getValue() instanceof Map<?, ?> s)) {
                continue;
            }
            String name = positions.get(pos);
            if (name == null) {
                dropped += s.values().stream().anyMatch(v -> v != null) ? 1 : 0;
                continue;
            }
            for (Map.Entry<String, String> slot : slots.suffixes.entrySet()) {
                Object v = s.get(slot.getKey());
                String what = "the " + slot.getKey() + " of parameter " + pos + " (" + name + ")";
                if (v == null && slots.mayBeAbsent) {
                    continue; // e.g. SGD without momentum (or not yet stepped) keeps no buffer
                }
                if (Slots.COUNTS.contains(slot.getKey())) {
                    float steps = v instanceof HostTensor t && t.numel() == 1 ? t.toFloatArray()[0]
                            : v instanceof Number n ? n.floatValue() : Float.NaN;
                    if (Float.isNaN(steps)) {
                        return failed(what + " is missing", settings);
                    }
                    found.put(name + slot.getValue(), HostTensor.ofFloats(new float[] {steps}));
                } else if (!(v instanceof HostTensor t)) {
                    return failed(what + (v == null ? " is missing" : " is not a tensor"), settings);
                } else if (!Arrays.equals(t.shape(), shapes.get(name))) {
                    return failed(what + " has shape " + Arrays.toString(t.shape()) + " but the parameter has shape "
                            + Arrays.toString(shapes.get(name)) + " (parameters in another order?)", settings);
                } else {
                    found.put(name + slot.getValue(), t);
                }
            }
        }
        // Keep the parameters' order, whatever order the state dict listed them in.
        LinkedHashMap<String, HostTensor> ordered = new LinkedHashMap<>();
        for (String name : positions) {
            for (String suffix : slots.suffixes.values()) {
                if (name != null && found.containsKey(name + suffix)) {
                    ordered.put(name + suffix, found.get(name + suffix));
                }
            }
        }
        return new Mapping(ordered, null, settings, dropped);
    }

    /**
     * A torch optimizer state dict of one parameter group over {@code positions}, with the slots of every named
     * parameter that has state in {@code state} (keyed as {@link #read} returns it). {@code group} holds the group's
     * hyperparameters in the order torch writes them; {@code params} is appended. {@code optimizer.load_state_dict}
     * accepts it for a model of the same architecture.
     */
    public static Map<String, Object> write(List<String> positions, Map<String, HostTensor> state, Slots slots,
                                            Map<String, Object> group) {
        LinkedHashMap<Object, Object> byPosition = new LinkedHashMap<>();
        List<Object> ids = new ArrayList<>();
        for (int i = 0; i < positions.size(); i++) {
            ids.add((long) i);
            String name = positions.get(i);
            if (name == null || !state.containsKey(slots.presenceSuffix(name))) {
                continue;
            }
            LinkedHashMap<String, Object> s = new LinkedHashMap<>();
            slots.suffixes.forEach((slot, suffix) -> s.put(slot, state.get(name + suffix)));
            byPosition.put((long) i, s);
        }
        LinkedHashMap<String, Object> g = new LinkedHashMap<>(group);
        g.put("params", ids);
        LinkedHashMap<String, Object> out = new LinkedHashMap<>();
        out.put("state", byPosition);
        out.put("param_groups", List.of(g));
        return out;
    }

    /** SGD of the official MoCo v1/v2: {@link #read} over the query encoder, then {@code keyParamCount} key parameters. */
    public static Mapping momentumBuffers(Object optimizer, LinkedHashMap<String, long[]> queryParams, int keyParamCount) {
        return read(optimizer, mocoPositions(queryParams.keySet(), keyParamCount), queryParams, Slots.SGD);
    }

    /**
     * A {@code torch.optim.SGD(model.parameters(), ...)} state dict for the official MoCo model: one parameter
     * group over {@code queryParams} then {@code keyParamCount} key encoder parameters, with momentum buffers
     * for the query parameters found in {@code buffers}.
     */
    public static Map<String, Object> sgdStateDict(List<String> queryParams, int keyParamCount, Map<String, HostTensor> buffers,
                                                   double lr, double momentum, double weightDecay, boolean nesterov) {
        LinkedHashMap<String, Object> group = new LinkedHashMap<>();
        group.put("lr", lr);
        group.put("momentum", momentum);
        group.put("dampening", 0L);
        group.put("weight_decay", weightDecay);
        group.put("nesterov", nesterov);
        return write(mocoPositions(queryParams, keyParamCount), buffers, Slots.SGD, group);
    }

    private static List<String> mocoPositions(Iterable<String> queryParams, int keyParamCount) {
        List<String> positions = new ArrayList<>();
        queryParams.forEach(positions::add);
        for (int i = 0; i < keyParamCount; i++) {
            positions.add(null);
        }
        return positions;
    }

    /**
     * The first parameter group's {@code lr}, {@code momentum}, {@code weight_decay}, {@code nesterov} and
     * {@code dampening}, those present; empty when {@code optimizer} is not an optimizer state dict.
     */
    public static Map<String, Object> settings(Object optimizer) {
        Map<String, Object> settings = new LinkedHashMap<>();
        if (optimizer instanceof Map<?, ?> sd && sd.get("param_groups") instanceof List<?> groups && !groups.isEmpty()
                && groups.get(0) instanceof Map<?, ?> first) {
            for (String key : List.of("lr", "momentum", "weight_decay", "nesterov", "dampening")) {
                if (first.get(key) != null) {
                    settings.put(key, first.get(key));
                }
            }
        }
        return settings;
    }

    private static Mapping failed(String problem, Map<String, Object> settings) {
        return new Mapping(new LinkedHashMap<>(), problem, settings, 0);
    }
}
