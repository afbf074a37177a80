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

/**
 * Prints MoCo4J's package graph from the sources: per package under io.moco4j its files, lines and the packages it
 * uses (fully qualified references and imports, comments left out: the scan of arch.PackageLayersTest), then any
 * cycle. Needs only a JDK: {@code java tools/PackageGraph.java [SOURCE_ROOT]} (default src/main/java), e.g. on an
 * older commit: {@code git worktree add /tmp/old 6e0eb3d && java tools/PackageGraph.java /tmp/old/src/main/java}.
 */
public class PackageGraph {
    private static final Pattern REFERENCE = Pattern.compile("\\bio\\.moco4j\\.([a-z][a-z.]*?)\\.[A-Z]");

    public static void main(String[] args) throws IOException {
        Path root = Path.of(args.length > 0 ? args[0] : "src/main/java").resolve("io/moco4j");
        Map<String, Set<String>> uses = new TreeMap<>();
        Map<String, int[]> size = new TreeMap<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                String pkg = root.relativize(f.getParent()).toString().replace('/', '.');
                String source = Files.readString(f);
                String code = source.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\n]*", "");
                Set<String> used = uses.computeIfAbsent(pkg, k -> new TreeSet<>());
                Matcher m = REFERENCE.matcher(code);
                while (m.find()) {
                    if (!m.group(1).equals(pkg)) {
                        used.add(m.group(1));
                    }
                }
                int[] s = size.computeIfAbsent(pkg, k -> new int[2]);
                s[0]++;
                s[1] += (int) source.lines().count();
            }
        }
        int files = 0;
        int lines = 0;
        System.out.printf("%-13s %5s %6s  uses%n", "package", "files", "lines");
        for (String pkg : uses.keySet()) {
            int[] s = size.get(pkg);
            files += s[0];
            lines += s[1];
            System.out.printf("%-13s %5d %6d  %s%n", pkg, s[0], s[1], String.join(", ", uses.get(pkg)));
        }
        System.out.printf("%-13s %5d %6d%n", "total", files, lines);
        List<String> cycles = cycles(uses);
        System.out.println(cycles.isEmpty() ? "no cycles" : "cycles: " + String.join("; ", cycles));
    }

    /** Strongly connected components of more than one package (Tarjan), each as {a, b, ...}. */
    static List<String> cycles(Map<String, Set<String>> uses) {
        List<String> out = new ArrayList<>();
        Map<String, Integer> index = new TreeMap<>();
        Map<String, Integer> low = new TreeMap<>();
        List<String> stack = new ArrayList<>();
        int[] counter = {0};
        for (String v : uses.keySet()) {
            if (!index.containsKey(v)) {
                connect(v, uses, index, low, stack, counter, out);
            }
        }
        return out;
    }

    private static void connect(String v, Map<String, Set<String>> uses, Map<String, Integer> index, Map<String, Integer> low,
                                List<String> stack, int[] counter, List<String> out) {
        index.put(v, counter[0]);
        low.put(v, counter[0]++);
        stack.add(v);
        for (String w : uses.getOrDefault(v, Set.of())) {
            if (!index.containsKey(w)) {
                connect(w, uses, index, low, stack, counter, out);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (stack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> component = new TreeSet<>();
            String w;
            do {
                w = stack.remove(stack.size() - 1);
                component.add(w);
            } while (!w.equals(v));
            if (component.size() > 1) {
                out.add("{" + String.join(", ", component) + "}");
            }
        }
    }
}
