package io.moco4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.util.UserException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The valid range of every numeric setting and the choices of every enumerated one, as one table, checked on
 * the configuration tree before it becomes a {@link MocoConfig}: a wrong type, a negative, NaN or a huge value
 * gets one line naming the setting and its range. The type each setting needs is that of its value in
 * {@code defaults.yaml}, so a new key is type-checked without touching this class; a new numeric key also
 * needs a row in {@link #RANGES} (the config fuzz test fails until it has one).
 */
final class SettingRanges {

    /** A closed or half-open interval of numbers; {@code integer} ranges refuse fractions. */
    record Range(boolean integer, double min, boolean minOpen, double max, boolean maxOpen) {
        static Range ints(long min, long max) {
            return new Range(true, min, false, max, false);
        }

        static Range reals(double min, boolean minOpen, double max, boolean maxOpen) {
            return new Range(false, min, minOpen, max, maxOpen);
        }

        boolean contains(double v) {
            return !Double.isNaN(v) && (minOpen ? v > min : v >= min) && (maxOpen ? v < max : v <= max);
        }

        String describe() {
            if (integer) {
                return String.format(Locale.ROOT, "an integer in %d..%d", (long) min, (long) max);
            }
            return String.format(Locale.ROOT, "a number in %s%s, %s%s", minOpen ? "(" : "[", fmt(min), fmt(max), maxOpen ? ")" : "]");
        }

        private static String fmt(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
        }
    }

    /** Largest integer a JSON/YAML double holds exactly (seeds above it would not round-trip through tools). */
    private static final long EXACT = (1L << 53) - 1;

    static final Map<String, Range> RANGES = new LinkedHashMap<>();
    static final Map<String, List<String>> CHOICES = new LinkedHashMap<>();

    static {
        RANGES.put("model.width", Range.reals(0, true, 16, false));
        RANGES.put("model.head_hidden", Range.ints(0, 65_536));
        RANGES.put("model.dim", Range.ints(1, 65_536));
        RANGES.put("model.head_layers", Range.ints(1, 64));
        RANGES.put("model.predictor_hidden", Range.ints(0, 65_536));
        RANGES.put("model.patch_size", Range.ints(0, 1024));
        RANGES.put("model.vit_width", Range.ints(0, 65_536));
        RANGES.put("model.vit_depth", Range.ints(0, 1024));
        RANGES.put("model.vit_heads", Range.ints(0, 1024));
        RANGES.put("moco.version", Range.ints(1, 3));
        // 0 is MoCo v3's (no queue); v1/v2 need a positive queue, which the cross-field checks require.
        RANGES.put("moco.queue_size", Range.ints(0, 1 << 24));
        RANGES.put("moco.momentum", Range.reals(0, false, 1, true));
        RANGES.put("moco.temperature", Range.reals(0, true, 10, false));
        RANGES.put("moco.bn_splits", Range.ints(1, 4096));
        RANGES.put("optim.lr", Range.reals(0, true, 1000, false));
        RANGES.put("optim.momentum", Range.reals(0, false, 1, true));
        RANGES.put("optim.weight_decay", Range.reals(0, false, 1, false));
        RANGES.put("optim.milestones", Range.ints(1, 1_000_000)); // each element
        RANGES.put("optim.gamma", Range.reals(0, true, 1, false));
        RANGES.put("optim.warmup_epochs", Range.ints(0, 1_000_000));
        RANGES.put("optim.min_lr", Range.reals(0, false, 1000, false));
        RANGES.put("train.epochs", Range.ints(1, 1_000_000));
        RANGES.put("train.batch_size", Range.ints(1, 65_536));
        RANGES.put("train.seed", Range.ints(0, EXACT));
        RANGES.put("train.image_size", Range.ints(1, 8192));
        RANGES.put("train.crop_min", Range.reals(0, false, 1, true));
        RANGES.put("train.workers", Range.ints(0, 1024));
        RANGES.put("train.log_every", Range.ints(1, Integer.MAX_VALUE));
        RANGES.put("train.checkpoint_every", Range.ints(0, 1_000_000));
        RANGES.put("train.knn_every", Range.ints(0, 1_000_000));
        RANGES.put("train.knn_k", Range.ints(1, 1_000_000));
        RANGES.put("train.knn_t", Range.reals(0, true, 100, false));
        RANGES.put("train.knn_train_subset", Range.ints(0, Integer.MAX_VALUE));
        RANGES.put("train.knn_val_subset", Range.ints(0, Integer.MAX_VALUE));
        RANGES.put("train.probe_lr", Range.reals(0, true, 1000, false));
        RANGES.put("data.generated_train", Range.ints(1, 1_000_000));
        RANGES.put("data.generated_val", Range.ints(1, 1_000_000));
        RANGES.put("data.max_pixels", Range.ints(1, 1_000_000_000_000L));
        CHOICES.put("model.arch", List.of("resnet18", "resnet34", "resnet50", "vit_small", "vit_base", "vit_tiny",
                "vit_cifar_tiny"));
        CHOICES.put("model.head", List.of("linear", "mlp", "projector"));
        CHOICES.put("optim.name", List.of("sgd", "lars", "adamw"));
        CHOICES.put("optim.schedule", List.of("step", "cosine", "constant", "warmup_cosine"));
        CHOICES.put("train.precision", List.of("fp32", "bf16", "fp16", "auto"));
    }

    private SettingRanges() {}

    /** Checks every setting of {@code tree} for the type of its default in {@code defaults} and its range or choices. */
    static void check(JsonNode tree, JsonNode defaults) {
        for (Iterator<Map.Entry<String, JsonNode>> sections = defaults.fields(); sections.hasNext(); ) {
            Map.Entry<String, JsonNode> section = sections.next();
            for (Iterator<Map.Entry<String, JsonNode>> keys = section.getValue().fields(); keys.hasNext(); ) {
                Map.Entry<String, JsonNode> key = keys.next();
                String name = section.getKey() + "." + key.getKey();
                JsonNode value = tree.path(section.getKey()).get(key.getKey());
                if (value != null) {
                    checkOne(name, value, key.getValue());
                }
            }
        }
    }

    /** What a setting accepts, for messages ("an integer in 1..65536", "one of step, cosine, constant"). */
    static String accepted(String key, JsonNode defaultValue) {
        Range r = RANGES.get(key);
        if (defaultValue.isArray()) {
            return "a list like [120, 160]" + (r != null ? " of " + r.describe().replaceFirst("^an? ", "") + "s" : "");
        }
        if (r != null) {
            return r.describe();
        }
        if (CHOICES.containsKey(key)) {
            return "one of " + String.join(", ", CHOICES.get(key));
        }
        if (defaultValue.isBoolean()) {
            return "true or false";
        }
        if (defaultValue.isTextual()) {
            return "a string";
        }
        return defaultValue.isIntegralNumber() ? "an integer" : "a number";
    }

    private static void checkOne(String key, JsonNode value, JsonNode defaultValue) {
        String shown = value.isTextual() ? "'" + value.asText() + "'" : value.toString();
        String fail = key + " is " + shown + (CHOICES.containsKey(key) ? "; choose " : "; it must be ") + accepted(key, defaultValue);
        Range r = RANGES.get(key);
        if (defaultValue.isArray()) {
            if (!value.isArray()) {
                throw new UserException(fail);
            }
            for (JsonNode e : value) {
                if (!e.isNumber() || (r != null && !inRange(r, e))) {
                    throw new UserException(fail);
                }
            }
        } else if (r != null || defaultValue.isNumber()) {
            if (!value.isNumber() || (r != null && !inRange(r, value)) || (defaultValue.isIntegralNumber() && r == null && !value.isIntegralNumber())) {
                throw new UserException(fail);
            }
        } else if (defaultValue.isBoolean()) {
            if (!value.isBoolean()) {
                throw new UserException(fail);
            }
        } else if (defaultValue.isTextual()) {
            if (!value.isTextual() || (CHOICES.containsKey(key) && !CHOICES.get(key).contains(value.asText()))) {
                throw new UserException(fail);
            }
        }
    }

    private static boolean inRange(Range r, JsonNode v) {
        if (r.integer() && !(v.isIntegralNumber() || (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble())
                && Math.abs(v.asDouble()) <= EXACT))) {
            return false;
        }
        return r.contains(v.asDouble());
    }
}
