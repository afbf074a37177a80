package io.moco4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The text of a run's {@code config.yaml}: a block of {@code #} comments (where the first weights came from, why
 * each data-driven setting was chosen) above the effective settings. The comments are written once, when the run
 * starts; a resume that changes nothing leaves the file as it is, and one that changes settings (those --resume
 * allows, e.g. a new --time-budget) keeps the comments, adds one line naming the changes, and writes the new settings.
 */
public final class RunConfigFile {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private RunConfigFile() {}

    /** A new run's file: {@code comments} (lines without the leading {@code "# "}) above the settings. */
    public static String forNewRun(List<String> comments, MocoConfig config) {
        StringBuilder out = new StringBuilder();
        comments.forEach(line -> out.append("# ").append(line).append('\n'));
        return out + ConfigLoader.toYaml(config);
    }

    /**
     * What a resumed run writes over {@code existing} (the file as it is): empty when its settings are those of
     * {@code config} (the file stays untouched), else the same leading comments, one comment line naming each changed
     * setting as {@code key: old -> new} and {@code where} (e.g. "at epoch 3"), then the new settings.
     */
    public static Optional<String> forResume(String existing, MocoConfig config, String where) {
        int body = bodyStart(existing);
        String header = existing.substring(0, body);
        String settings = existing.substring(body);
        String now = ConfigLoader.toYaml(config);
        if (settings.equals(now)) {
            return Optional.empty();
        }
        Map<String, String> before = flatten(settings);
        Map<String, String> after = flatten(now);
        List<String> changes = new ArrayList<>();
        after.forEach((k, v) -> {
            String old = before.get(k);
            if (!v.equals(old)) {
                changes.add(k + ": " + (old == null ? "(unset)" : old) + " -> " + v);
            }
        });
        before.keySet().stream().filter(k -> !after.containsKey(k)).forEach(k -> changes.add(k + ": " + before.get(k) + " -> (unset)"));
        if (changes.isEmpty() && !before.isEmpty()) {
            return Optional.empty(); // the same values written another way (e.g. edited by hand): nothing to record
        }
        String line = changes.isEmpty() ? "# rewritten on --resume " + where + " (the settings were unreadable)\n"
                : "# changed on --resume " + where + ": " + String.join(", ", changes) + "\n";
        if (!header.isEmpty() && !header.endsWith("\n")) {
            header += "\n";
        }
        return Optional.of(header + line + now);
    }

    /** Where the settings start: after the leading lines that are comments or blank. */
    static int bodyStart(String text) {
        int at = 0;
        while (at < text.length()) {
            int end = text.indexOf('\n', at);
            int next = end < 0 ? text.length() : end + 1;
            String line = text.substring(at, end < 0 ? text.length() : end).strip();
            if (!line.isEmpty() && !line.startsWith("#")) {
                return at;
            }
            at = next;
        }
        return at;
    }

    /** Every leaf of a YAML document as {@code a.b.c -> value}; empty when it does not parse. */
    static Map<String, String> flatten(String yaml) {
        Map<String, String> out = new LinkedHashMap<>();
        try {
            JsonNode root = YAML.readTree(yaml);
            if (root != null) {
                flatten(root, "", out);
            }
        } catch (IOException e) {
            out.clear(); // unreadable: the caller rewrites the file and says so
        }
        return out;
    }

    private static void flatten(JsonNode node, String prefix, Map<String, String> out) {
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                flatten(e.getValue(), prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), out);
            }
        } else {
            out.put(prefix, node.isValueNode() ? node.asText() : node.toString());
        }
    }
}
