package io.moco4j.arch;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Pins the direction of the dependencies between MoCo4J's packages: {@code cli -> api/serve -> interop -> train ->
 * method -> {model, loss, optim, dist} -> util}, with evaluation, data, configuration and file formats at their own
 * levels (docs/ARCHITECTURE.md). A package may use only packages of a lower level, which also rules out every cycle.
 * References are read from the sources (fully qualified names and imports, comments left out), so a new package
 * must be given a level here before it can be used.
 */
class PackageLayersTest {
    /** The level of each package under {@code io.moco4j}; lower levels never use higher ones. */
    static final Map<String, Integer> LEVEL = Map.ofEntries(
            Map.entry("util", 0),
            Map.entry("precision", 1), Map.entry("io", 1), Map.entry("data", 1), Map.entry("loss", 1), Map.entry("optim", 1),
            Map.entry("model", 2), Map.entry("data.augment", 2),
            Map.entry("dist", 3), Map.entry("config", 3),
            Map.entry("eval", 4), Map.entry("method", 4),
            Map.entry("train", 5),
            Map.entry("interop", 6), Map.entry("onnx", 6), Map.entry("bench", 6),
            Map.entry("api", 7),
            Map.entry("index", 8),
            Map.entry("serve", 9),
            Map.entry("cli", 10));

    private static final Path ROOT = Path.of("src/main/java/io/moco4j");
    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.moco4j\\.([a-z][a-z.]*?)\\.[A-Z]");

    @Test
    void everyPackageUsesOnlyLowerLevels() throws IOException {
        Map<String, Set<String>> uses = dependencies();
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Set<String>> e : uses.entrySet()) {
            Integer from = LEVEL.get(e.getKey());
            assertNotNull(from, "package io.moco4j." + e.getKey() + " has no level in PackageLayersTest.LEVEL");
            for (String to : e.getValue()) {
                Integer level = LEVEL.get(to);
                assertNotNull(level, "package io.moco4j." + to + " has no level in PackageLayersTest.LEVEL");
                if (level >= from) {
                    wrong.add(e.getKey() + " (level " + from + ") uses " + to + " (level " + level + ")");
                }
            }
        }
        assertTrue(wrong.isEmpty(), "dependencies against the layer order: " + wrong);
    }

    @Test
    void theScanSeesALayerViolation() {
        // the scanner itself: a reference from util to train must be found
        Set<String> found = referencedPackages("package io.moco4j.util;\n/* io.moco4j.cli.Main */\n"
                + "// io.moco4j.serve.Gallery\nclass X { io.moco4j.train.Pretraining p; }\n", "util");
        assertEquals(Set.of("train"), found);
    }

    /** Package -> packages its classes reference, for every package under src/main/java/io/moco4j. */
    static Map<String, Set<String>> dependencies() throws IOException {
        Map<String, Set<String>> uses = new TreeMap<>();
        try (Stream<Path> files = Files.walk(ROOT)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                String pkg = ROOT.relativize(f.getParent()).toString().replace('/', '.');
                uses.computeIfAbsent(pkg, k -> new TreeSet<>()).addAll(referencedPackages(Files.readString(f), pkg));
            }
        }
        return uses;
    }

    static Set<String> referencedPackages(String source, String own) {
        String code = source.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "");
        Set<String> out = new TreeSet<>();
        Matcher m = REFERENCE.matcher(code);
        while (m.find()) {
            if (!m.group(1).equals(own)) {
                out.add(m.group(1));
            }
        }
        return out;
    }
}
