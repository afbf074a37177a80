package io.moco4j.interop;

import io.moco4j.io.HostTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Converts between {@code torch.optim.SGD.state_dict()} and MoCo4J's momentum buffers keyed by parameter name.
 *
 * <p>torch keys its optimizer state by position: {@code param_groups[g]['params']} lists integer ids, one per
 * parameter in the order the parameters were given to the optimizer, and {@code state[id]['momentum_buffer']}
 * holds the buffer of a parameter that has been stepped. The official {@code main_moco.py} builds its SGD from
 * {@code model.parameters()}, which is every {@code encoder_q} parameter then every {@code encoder_k} one; the
 * key encoder's parameters never get a gradient, so they never get state. Positions are therefore mapped to
 * names by the query encoder's parameter order (torchvision's module registration order).
 */
public final class TorchOptimizerState {

    /**
     * The outcome of reading an optimizer state dict.
     *
     * @param buffers momentum buffers keyed by query encoder parameter name (empty when nothing could be mapped)
     * @param problem why the state could not be mapped, or null when it was
     * @param settings the first parameter group's {@code momentum}, {@code weight_decay}, {@code nesterov} and
     *     {@code lr} as found (lr is the value of the epoch the file was saved at, after any schedule)
     * @param droppedKeyEncoderBuffers buffers found for key encoder parameters (not used: they are EMA copies)
     */
    public record Mapping(LinkedHashMap<String, HostTensor> buffers, String problem, Map<String, Object> settings,
                          int droppedKeyEncoderBuffers) {
        public boolean mapped() {
            return problem == null;
        }
    }

    private TorchOptimizerState() {}

    /**
     * Maps an SGD state dict onto query encoder parameter names.
     *
     * @param optimizer the {@code checkpoint['optimizer']} object (may be null)
     * @param queryParams the query encoder's parameter names and shapes, in {@code parameters()} order
     * @param keyParamCount the number of key encoder parameters (which follow the query ones when the
     *     optimizer was built from the whole MoCo model)
     */
    public static Mapping momentumBuffers(Object optimizer, LinkedHashMap<String, long[]> queryParams, int keyParamCount) {
        if (optimizer == null) {
            return failed("the file has no optimizer state");
        }
        if (!(optimizer instanceof Map<?, ?> sd) || !(sd.get("state") instanceof Map<?, ?> state)
                || !(sd.get("param_groups") instanceof List<?> groups) || groups.isEmpty()) {
            return failed("'optimizer' is not a torch optimizer state dict (no 'state' and 'param_groups')");
        }
        List<Object> ids = new ArrayList<>();
        for (Object g : groups) {
            if (!(g instanceof Map<?, ?> group) || !(group.get("params") instanceof List<?> params)) {
                return failed("an optimizer parameter group has no 'params' list");
            }
            ids.addAll(params);
        }
        Map<String, Object> settings = settings(optimizer);
        int q = queryParams.size();
        if (ids.size() != q && ids.size() != q + keyParamCount) {
            return new Mapping(new LinkedHashMap<>(), "the optimizer holds " + ids.size() + " parameters but the query encoder has "
                    + q + " (and the key encoder " + keyParamCount + ")", settings, 0);
        }
        Map<Object, Integer> position = new HashMap<>();
        for (int i = 0; i < ids.size(); i++) {
            position.put(ids.get(i), i);
        }
        List<String> names = new ArrayList<>(queryParams.keySet());
        LinkedHashMap<String, HostTensor> byName = new LinkedHashMap<>();
        int droppedK = 0;
        for (Map.Entry<?, ?> e : state.entrySet()) {
            Integer pos = position.get(e.getKey());
            if (pos == null) {
                return new Mapping(new LinkedHashMap<>(), "optimizer state id " + e.getKey() + " is in no parameter group", settings, 0);
            }
            Object buffer = e.getValue() instanceof Map<?, ?> s ? s.get("momentum_buffer") : null;
            if (buffer == null) {
                continue; // SGD without momentum (or not yet stepped) keeps no buffer
            }
            if (!(buffer instanceof HostTensor t)) {
                return new Mapping(new LinkedHashMap<>(), "the momentum buffer of parameter " + pos + " is not a tensor", settings, 0);
            }
            if (pos >= q) {
                droppedK++;
                continue;
            }
            String name = names.get(pos);
            long[] want = queryParams.get(name);
            if (!Arrays.equals(want, t.shape())) {
                return new Mapping(new LinkedHashMap<>(), "the momentum buffer of parameter " + pos + " has shape "
                        + Arrays.toString(t.shape()) + " but " + name + " has shape " + Arrays.toString(want)
                        + " (parameters in another order?)", settings, 0);
            }
            byName.put(name, t);
        }
        // Keep the parameters' order, whatever order the state dict listed them in.
        LinkedHashMap<String, HostTensor> ordered = new LinkedHashMap<>();
        for (String name : names) {
            if (byName.containsKey(name)) {
                ordered.put(name, byName.get(name));
            }
        }
        return new Mapping(ordered, null, settings, droppedK);
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

    /**
     * A {@code torch.optim.SGD(model.parameters(), ...)} state dict for the official MoCo model: one parameter
     * group over {@code queryParams} then {@code keyParamCount} key encoder parameters, with momentum buffers
     * for the query parameters found in {@code buffers}. {@code optimizer.load_state_dict} accepts it for a
     * model of the same architecture.
     */
    public static Map<String, Object> sgdStateDict(List<String> queryParams, int keyParamCount, Map<String, HostTensor> buffers,
                                                   double lr, double momentum, double weightDecay, boolean nesterov) {
        LinkedHashMap<Object, Object> state = new LinkedHashMap<>();
        for (int i = 0; i < queryParams.size(); i++) {
            HostTensor b = buffers.get(queryParams.get(i));
            if (b != null) {
                LinkedHashMap<String, Object> s = new LinkedHashMap<>();
                s.put("momentum_buffer", b);
                state.put((long) i, s);
            }
        }
        List<Object> ids = new ArrayList<>();
        for (long i = 0; i < queryParams.size() + keyParamCount; i++) {
            ids.add(i);
        }
        LinkedHashMap<String, Object> group = new LinkedHashMap<>();
        group.put("lr", lr);
        group.put("momentum", momentum);
        group.put("dampening", 0L);
        group.put("weight_decay", weightDecay);
        group.put("nesterov", nesterov);
        group.put("params", ids);
        LinkedHashMap<String, Object> out = new LinkedHashMap<>();
        out.put("state", state);
        out.put("param_groups", List.of(group));
        return out;
    }

    private static Mapping failed(String problem) {
        return new Mapping(new LinkedHashMap<>(), problem, Map.of(), 0);
    }
}
