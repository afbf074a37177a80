package io.moco4j.data.augment;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Parses recipe YAML into a {@link Recipe}, validating every value and naming the offending place and the
 * valid choices in a {@link UserException}. Format (see {@code src/main/resources/recipes/*.yaml}):
 * <pre>
 * name: v2
 * views:
 *   - repeat: 2            # optional: this view, this many times
 *     size: 224
 *     ops:
 *       - random_resized_crop: {scale: [0.2, 1.0], ratio: [0.75, 1.3333333333333333]}
 *       - random_apply: {p: 0.8, ops: [{color_jitter: {brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1}}]}
 *       - random_grayscale: {p: 0.2}
 *       - random_apply: {p: 0.5, ops: [{gaussian_blur: {sigma: [0.1, 2.0]}}]}
 *       - random_horizontal_flip: {p: 0.5}
 *     normalize: imagenet   # or {mean: [..], std: [..]}
 * </pre>
 */
public final class RecipeParser {
    static final List<String> OPS = List.of("random_resized_crop", "resize", "center_crop", "color_jitter",
            "random_grayscale", "random_horizontal_flip", "gaussian_blur", "solarize", "random_apply");
    static final Map<String, Normalization> NAMED_NORMALIZATIONS = Map.of(
            "imagenet", Normalization.IMAGENET,
            // The official MoCo CIFAR-10 demo's values (facebookresearch/moco, colab/moco_cifar10_demo.ipynb).
            "cifar10", new Normalization(new double[] {0.4914, 0.4822, 0.4465}, new double[] {0.2023, 0.1994, 0.2010}));

    private RecipeParser() {}

    public static Recipe parse(String yaml, String origin) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(yaml);
        } catch (JsonProcessingException e) {
            throw new UserException("recipe " + origin + " is not valid YAML (" + e.getOriginalMessage().lines().findFirst().orElse("")
                    + "); fix the file's syntax", e);
        }
        if (root == null || !root.isObject()) {
            throw new UserException("recipe " + origin + " must be a YAML mapping with 'name' and 'views'");
        }
        Ctx ctx = new Ctx(origin);
        ctx.keys(root, "", Set.of("name", "description", "views"));
        String name = root.path("name").asText(origin);
        JsonNode views = root.get("views");
        if (views == null || !views.isArray() || views.isEmpty()) {
            throw ctx.error("views", "must be a non-empty list of views");
        }
        List<ViewSpec> out = new ArrayList<>();
        for (int i = 0; i < views.size(); i++) {
            String where = "views[" + i + "]";
            JsonNode v = views.get(i);
            ctx.keys(v, where, Set.of("repeat", "size", "ops", "normalize"));
            int repeat = v.has("repeat") ? ctx.intIn(v.get("repeat"), where + ".repeat", 1, 64) : 1;
            int size = ctx.intIn(ctx.required(v, "size", where), where + ".size", 1, 8192);
            List<OpSpec> ops = parseOps(ctx, ctx.required(v, "ops", where), where + ".ops");
            Normalization norm = parseNormalization(ctx, ctx.required(v, "normalize", where), where + ".normalize");
            for (int r = 0; r < repeat; r++) {
                out.add(new ViewSpec(size, ops, norm));
            }
        }
        return new Recipe(name, out);
    }

    private static List<OpSpec> parseOps(Ctx ctx, JsonNode ops, String where) {
        if (!ops.isArray()) {
            throw ctx.error(where, "must be a list of steps such as '- random_grayscale: {p: 0.2}'");
        }
        List<OpSpec> out = new ArrayList<>();
        for (int i = 0; i < ops.size(); i++) {
            out.add(parseOp(ctx, ops.get(i), where + "[" + i + "]"));
        }
        return out;
    }

    private static OpSpec parseOp(Ctx ctx, JsonNode node, String where) {
        if (node.isTextual()) {
            node = new ObjectMapper().createObjectNode().set(node.asText(), new ObjectMapper().createObjectNode());
        }
        if (!node.isObject() || node.size() != 1) {
            throw ctx.error(where, "must be one step written 'name: {arguments}'; steps: " + String.join(", ", OPS));
        }
        String key = node.fieldNames().next();
        JsonNode a = node.get(key);
        if (a == null || a.isNull()) {
            a = new ObjectMapper().createObjectNode();
        }
        String at = where + "." + key;
        if (!a.isObject()) {
            throw ctx.error(at, "arguments must be a mapping, e.g. {p: 0.5}");
        }
        switch (key) {
            case "random_resized_crop" -> {
                ctx.keys(a, at, Set.of("scale", "ratio"));
                double[] scale = a.has("scale") ? ctx.range(a.get("scale"), at + ".scale", 0, 1) : new double[] {0.08, 1.0};
                if (scale[0] <= 0) {
                    throw ctx.error(at + ".scale", "lower bound must be > 0");
                }
                double[] ratio = a.has("ratio") ? ctx.range(a.get("ratio"), at + ".ratio", 1e-6, 1e6)
                        : new double[] {3.0 / 4.0, 4.0 / 3.0};
                return new OpSpec.RandomResizedCrop(scale[0], scale[1], ratio[0], ratio[1]);
            }
            case "resize" -> {
                ctx.keys(a, at, Set.of("size"));
                return new OpSpec.Resize(ctx.intIn(ctx.required(a, "size", at), at + ".size", 1, 65536));
            }
            case "center_crop" -> {
                ctx.keys(a, at, Set.of());
                return new OpSpec.CenterCrop();
            }
            case "color_jitter" -> {
                ctx.keys(a, at, Set.of("brightness", "contrast", "saturation", "hue"));
                return new OpSpec.ColorJitter(
                        a.has("brightness") ? ctx.number(a.get("brightness"), at + ".brightness", 0, 1e6) : 0,
                        a.has("contrast") ? ctx.number(a.get("contrast"), at + ".contrast", 0, 1e6) : 0,
                        a.has("saturation") ? ctx.number(a.get("saturation"), at + ".saturation", 0, 1e6) : 0,
                        a.has("hue") ? ctx.number(a.get("hue"), at + ".hue", 0, 0.5) : 0);
            }
            case "random_grayscale" -> {
                ctx.keys(a, at, Set.of("p"));
                return new OpSpec.RandomGrayscale(a.has("p") ? ctx.number(a.get("p"), at + ".p", 0, 1) : 0.1);
            }
            case "random_horizontal_flip" -> {
                ctx.keys(a, at, Set.of("p"));
                return new OpSpec.RandomHorizontalFlip(a.has("p") ? ctx.number(a.get("p"), at + ".p", 0, 1) : 0.5);
            }
            case "gaussian_blur" -> {
                ctx.keys(a, at, Set.of("sigma"));
                double[] sigma = a.has("sigma") ? ctx.range(a.get("sigma"), at + ".sigma", 0, 1000) : new double[] {0.1, 2.0};
                return new OpSpec.GaussianBlur(sigma[0], sigma[1]);
            }
            case "solarize" -> {
                ctx.keys(a, at, Set.of("threshold"));
                return new OpSpec.Solarize(a.has("threshold") ? ctx.intIn(a.get("threshold"), at + ".threshold", 0, 256) : 128);
            }
            case "random_apply" -> {
                ctx.keys(a, at, Set.of("p", "ops"));
                double p = ctx.number(ctx.required(a, "p", at), at + ".p", 0, 1);
                return new OpSpec.RandomApply(p, parseOps(ctx, ctx.required(a, "ops", at), at + ".ops"));
            }
            default -> throw ctx.error(where, "unknown step '" + key + "'; valid steps: " + String.join(", ", OPS));
        }
    }

    private static Normalization parseNormalization(Ctx ctx, JsonNode n, String where) {
        if (n.isTextual()) {
            Normalization named = NAMED_NORMALIZATIONS.get(n.asText());
            if (named == null) {
                throw ctx.error(where, "unknown normalisation '" + n.asText() + "'; use one of "
                        + String.join(", ", new TreeSet<>(NAMED_NORMALIZATIONS.keySet())) + " or {mean: [r, g, b], std: [r, g, b]}");
            }
            return named;
        }
        ctx.keys(n, where, Set.of("mean", "std"));
        double[] mean = ctx.triple(ctx.required(n, "mean", where), where + ".mean", false);
        double[] std = ctx.triple(ctx.required(n, "std", where), where + ".std", true);
        return new Normalization(mean, std);
    }

    /** Validation helpers that know the recipe's origin for messages. */
    private record Ctx(String origin) {
        UserException error(String where, String problem) {
            return new UserException("recipe " + origin + ": " + (where.isEmpty() ? "" : where + " ") + problem);
        }

        JsonNode required(JsonNode parent, String key, String where) {
            JsonNode n = parent.get(key);
            if (n == null || n.isNull()) {
                throw error(where, "is missing '" + key + "'");
            }
            return n;
        }

        void keys(JsonNode node, String where, Set<String> allowed) {
            if (!node.isObject()) {
                throw error(where, "must be a mapping with keys " + new TreeSet<>(allowed));
            }
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!allowed.contains(k)) {
                    throw error(where, "has unknown key '" + k + "'; valid keys: "
                            + (allowed.isEmpty() ? "none" : String.join(", ", new TreeSet<>(allowed))));
                }
            }
        }

        double number(JsonNode n, String where, double min, double max) {
            if (!n.isNumber()) {
                throw error(where, "must be a number in [" + min + ", " + max + "], got '" + n.asText() + "'");
            }
            double v = n.asDouble();
            if (!(v >= min && v <= max)) {
                throw error(where, "must be in [" + min + ", " + max + "], got " + v);
            }
            return v;
        }

        int intIn(JsonNode n, String where, int min, int max) {
            if (!n.canConvertToInt() || !n.isIntegralNumber()) {
                throw error(where, "must be an integer in [" + min + ", " + max + "], got '" + n.asText() + "'");
            }
            int v = n.asInt();
            if (v < min || v > max) {
                throw error(where, "must be in [" + min + ", " + max + "], got " + v);
            }
            return v;
        }

        double[] range(JsonNode n, String where, double min, double max) {
            if (!n.isArray() || n.size() != 2) {
                throw error(where, "must be a pair [low, high] within [" + min + ", " + max + "]");
            }
            double lo = number(n.get(0), where + "[0]", min, max);
            double hi = number(n.get(1), where + "[1]", min, max);
            if (lo > hi) {
                throw error(where, "must have low <= high, got [" + lo + ", " + hi + "]");
            }
            return new double[] {lo, hi};
        }

        double[] triple(JsonNode n, String where, boolean positive) {
            if (!n.isArray() || n.size() != 3) {
                throw error(where, "must be a list of 3 numbers (R, G, B)");
            }
            double[] out = new double[3];
            for (int i = 0; i < 3; i++) {
                out[i] = number(n.get(i), where + "[" + i + "]", positive ? 1e-12 : -1e6, 1e6);
            }
            return out;
        }
    }
}
