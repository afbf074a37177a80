package io.moco4j.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Builds a {@link MocoConfig} in layers: built-in defaults, then a preset, then a user YAML file, then
 * {@code section.key=value} overrides. Unknown keys and wrongly typed values are rejected with a message
 * that names the key and the valid choices; {@link ConfigValidator} then checks values against each other.
 */
public final class ConfigLoader {
    /** The built-in presets: the files of the {@code presets/} resource folder (see {@link Presets}). */
    public static final List<String> PRESETS = Presets.names();

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ConfigLoader.class);

    private final ObjectNode tree;

    private ConfigLoader(ObjectNode tree) {
        this.tree = tree;
    }

    /** Starts from the built-in defaults. */
    public static ConfigLoader defaults() {
        return new ConfigLoader((ObjectNode) readResource("defaults"));
    }

    /** Merges a built-in preset over the current values. */
    public ConfigLoader preset(String name) {
        if (!PRESETS.contains(name)) {
            throw new UserException("unknown preset '" + name + "'; choose one of " + String.join(", ", PRESETS));
        }
        JsonNode preset = readResource(name);
        if (preset instanceof ObjectNode o && o.has("base")) {
            // A preset may build on another one ("base: cpu-small") and change only what differs.
            preset(o.get("base").asText());
            o = o.deepCopy();
            o.remove("base");
            preset = o;
        }
        merge(tree, preset, "");
        return this;
    }

    /** Merges a user YAML file (same layout as the presets) over the current values. */
    public ConfigLoader file(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserException("config file " + file + " does not exist; pass an existing YAML file to --config");
        }
        try {
            JsonNode node = YAML.readTree(file.toFile());
            if (node == null || node.isMissingNode() || node.isNull()) {
                return this;
            }
            if (!node.isObject()) {
                throw new UserException("config file " + file + " must be a YAML mapping of sections (model:, moco:, optim:, train:, data:)");
            }
            merge(tree, node, "");
        } catch (JsonProcessingException e) {
            throw new UserException("config file " + file + " is not valid YAML (" + oneLine(e.getOriginalMessage())
                    + " at line " + e.getLocation().getLineNr() + "); fix the syntax");
        } catch (IOException e) {
            throw new UserException("cannot read config file " + file + ": " + e.getMessage());
        }
        return this;
    }

    /** Applies {@code section.key=value}; the value is parsed as a YAML scalar or flow list ({@code [60, 80]}). */
    public ConfigLoader set(String assignment) {
        int eq = assignment.indexOf('=');
        if (eq <= 0) {
            throw new UserException("override '" + assignment + "' must look like section.key=value, e.g. optim.lr=0.1");
        }
        String path = assignment.substring(0, eq).trim().replace('-', '_');
        String[] parts = path.split("\\.");
        if (parts.length != 2 || !(tree.get(parts[0]) instanceof ObjectNode section)) {
            throw new UserException("override '" + path + "' names no setting; use section.key with a section of "
                    + fieldNames(tree));
        }
        if (!section.has(parts[1])) {
            throw new UserException("unknown setting '" + path + "'; valid keys in " + parts[0] + ": " + fieldNames(section));
        }
        JsonNode value;
        try {
            value = YAML.readTree("v: " + assignment.substring(eq + 1).trim()).get("v");
        } catch (JsonProcessingException e) {
            JsonNode def = readResource("defaults").path(parts[0]).path(parts[1]);
            throw new UserException(path + " is '" + assignment.substring(eq + 1).trim() + "', which is not readable; it must be "
                    + SettingRanges.accepted(path, def) + " (quote strings, write lists as [a, b])");
        }
        section.set(parts[1], value);
        return this;
    }

    public ConfigLoader setAll(Map<String, String> overrides) {
        overrides.forEach((k, v) -> set(k + "=" + v));
        return this;
    }

    /** Converts to the typed config and validates it. */
    public MocoConfig build() {
        MocoConfig config;
        SettingRanges.check(tree, readResource("defaults")); // types and ranges, one line naming the setting
        WarmupFit.apply(tree).ifPresent(LOG::info); // a short try or budget must just run
        try {
            config = YAML.treeToValue(tree, MocoConfig.class);
        } catch (UnrecognizedPropertyException e) {
            throw new UserException("unknown setting '" + pathOf(e) + "'; valid keys: "
                    + e.getKnownPropertyIds().stream().map(Object::toString).sorted().collect(Collectors.joining(", ")));
        } catch (InvalidFormatException e) {
            throw new UserException("setting '" + pathOf(e) + "' has value '" + e.getValue() + "' but needs a "
                    + e.getTargetType().getSimpleName().toLowerCase() + "; fix it in the config or --set");
        } catch (MismatchedInputException e) {
            throw new UserException("setting '" + pathOf(e) + "' has the wrong type (needs "
                    + e.getTargetType().getSimpleName().toLowerCase() + "); fix it in the config or --set");
        } catch (JsonProcessingException e) {
            throw new UserException("invalid configuration: " + e.getOriginalMessage());
        }
        ConfigValidator.validate(config);
        return config;
    }

    /** The effective configuration as YAML, for the run directory. */
    public static String toYaml(MocoConfig config) {
        try {
            return YAML.writeValueAsString(config);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a config written by {@link #toYaml} (e.g. from a run directory or a checkpoint). */
    public static MocoConfig fromYaml(String yaml) {
        ConfigLoader loader = defaults();
        try {
            merge(loader.tree, YAML.readTree(yaml), "");
        } catch (JsonProcessingException e) {
            throw new UserException("stored configuration is not valid YAML: " + e.getOriginalMessage());
        }
        return loader.build();
    }

    /** Starts from an existing configuration, e.g. a checkpoint's, to apply overrides to it. */
    public static ConfigLoader of(MocoConfig config) {
        ConfigLoader loader = defaults();
        merge(loader.tree, YAML.valueToTree(config), "");
        return loader;
    }

    private static JsonNode readResource(String name) {
        try (InputStream in = ConfigLoader.class.getResourceAsStream("/presets/" + name + ".yaml")) {
            if (in == null) {
                throw new IllegalStateException("built-in preset " + name + " is missing from the jar");
            }
            return YAML.readTree(in);
        } catch (IOException e) {
            throw new IllegalStateException("built-in preset " + name + " is unreadable", e);
        }
    }

    /** Deep-merges {@code over} into {@code base}; keys unknown to the base are reported, not added. */
    private static void merge(ObjectNode base, JsonNode over, String prefix) {
        for (Iterator<Map.Entry<String, JsonNode>> it = over.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey().replace('-', '_');
            JsonNode current = base.get(key);
            if (current == null) {
                throw new UserException("unknown setting '" + prefix + key + "'; valid keys"
                        + (prefix.isEmpty() ? "" : " in " + prefix.substring(0, prefix.length() - 1)) + ": " + fieldNames(base));
            }
            if (current.isObject() && e.getValue().isObject()) {
                merge((ObjectNode) current, e.getValue(), prefix + key + ".");
            } else if (current.isObject()) {
                throw new UserException("setting '" + prefix + key + "' is a section; give it keys of " + fieldNames(current));
            } else {
                base.set(key, e.getValue());
            }
        }
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").trim();
    }

    private static String fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return String.join(", ", names);
    }

    private static String pathOf(MismatchedInputException e) {
        return e.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining("."));
    }
}
