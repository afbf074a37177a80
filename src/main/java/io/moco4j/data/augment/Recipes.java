package io.moco4j.data.augment;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The built-in recipes (YAML under {@code src/main/resources/recipes/}) and loading of user recipe files:
 * <ul>
 *   <li>{@code v1}: MoCo v1 (InstDisc's augmentation), {@code v2}: MoCo v2 "aug+",
 *       {@code v3}: MoCo v3's asymmetric BYOL-style views, all at 224 px with ImageNet statistics;</li>
 *   <li>{@code cifar}: the official MoCo CIFAR-10 demo's training views (32 px);</li>
 *   <li>{@code cifar-grey}, {@code v2-grey}: cifar and v2 for grey images (no saturation, hue or grayscale);</li>
 *   <li>{@code eval}: resize 256 + centre crop 224; {@code eval32}: resize + centre crop to the view
 *       size (no-ops on 32-px inputs, so the CIFAR demo's normalisation only).</li>
 * </ul>
 */
public final class Recipes {
    public static final List<String> BUILT_IN = List.of("v1", "v2", "v3", "cifar", "cifar-v3", "eval", "eval32", "cifar-grey", "v2-grey");

    private Recipes() {}

    /**
     * A built-in recipe by name, or a YAML file if {@code nameOrPath} ends in .yaml/.yml or names an existing
     * file; {@code sizeOverride} (nullable) changes the output size ({@link Recipe#withSize}).
     */
    public static Recipe load(String nameOrPath, Integer sizeOverride) {
        if (nameOrPath == null || nameOrPath.isBlank()) {
            throw new UserException("no augmentation recipe given; use one of " + String.join(", ", BUILT_IN) + " or a .yaml file");
        }
        Recipe recipe;
        if (BUILT_IN.contains(nameOrPath)) {
            recipe = RecipeParser.parse(resource(nameOrPath), nameOrPath);
        } else {
            Path p = Path.of(nameOrPath);
            boolean looksLikeFile = nameOrPath.endsWith(".yaml") || nameOrPath.endsWith(".yml") || Files.isRegularFile(p);
            if (!looksLikeFile) {
                throw new UserException("unknown augmentation recipe '" + nameOrPath + "'; use one of "
                        + String.join(", ", BUILT_IN) + " or the path of a recipe .yaml file");
            }
            recipe = load(p);
        }
        if (sizeOverride != null) {
            if (sizeOverride < 1 || sizeOverride > 8192) {
                throw new UserException("image size " + sizeOverride + " is not valid; use a size in 1..8192 pixels");
            }
            recipe = recipe.withSize(sizeOverride);
        }
        return recipe;
    }

    /** A user recipe file. */
    public static Recipe load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserException("recipe file " + file + " does not exist; give an existing .yaml file or one of "
                    + String.join(", ", BUILT_IN));
        }
        try {
            return RecipeParser.parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
        } catch (IOException e) {
            throw new UserException("cannot read recipe file " + file + " (" + e.getMessage() + "); check its permissions", e);
        }
    }

    /** The YAML text of a built-in recipe. */
    public static String resource(String name) {
        try (InputStream in = Recipes.class.getResourceAsStream("/recipes/" + name + ".yaml")) {
            if (in == null) {
                throw new IllegalStateException("built-in recipe " + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read built-in recipe " + name, e);
        }
    }
}
