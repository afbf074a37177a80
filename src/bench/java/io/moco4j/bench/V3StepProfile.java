package io.moco4j.bench;

import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.precision.Precision;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a MoCo v3 training step (cifar10-v3 at batch 64 unless told) spends its time, by libtorch op: self time (an
 * op's span minus the spans of the ops it called) summed per op name over one profiled step after warm-up steps, as
 * JSON lines, largest first. The reference is bench/reference_v3_profile.py (torch.profiler's self CPU time per op
 * over the official MoCo_ResNet + LARS step, or MoCo_ViT + AdamW). Run both with one libtorch thread, so spans are
 * not split across threads. With {@code types} every op name is followed by its input dtypes (libtorch's
 * "Input type" record), which shows which ops autocast lowered.
 *
 * <pre>java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp ... io.moco4j.bench.V3StepProfile \
 *     [top [preset [precision [batch [types]]]]]        # e.g. 30 cpu-vit bf16 64 types</pre>
 * {@code -Dmoco4j.profile.warmup=N} runs N unprofiled steps first (default 2; the JVM compiles over ~10).
 */
public final class V3StepProfile {
    private V3StepProfile() {}

    public static void main(String[] args) throws Exception {
        int top = args.length > 0 ? Integer.parseInt(args[0]) : 25;
        String preset = args.length > 1 ? args[1] : "cifar10-v3";
        Precision precision = Precision.parse(args.length > 2 ? args[2] : "fp32");
        int batch = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        boolean types = args.length > 4 && "types".equals(args[4]);
        try (SyntheticSteps run = new SyntheticSteps(preset, precision, batch)) {
            int warmup = Integer.getInteger("moco4j.profile.warmup", 2); // ~10 for the JVM's compiled steady state
            for (int i = 0; i < warmup; i++) {
                run.step(i);
            }
            Path trace = Files.createTempFile("moco4j-v3-profile", ".json");
            JniUtils.startProfile(false, types, false);
            long t0 = System.nanoTime();
            run.step(warmup);
            double wall = (System.nanoTime() - t0) / 1e9;
            JniUtils.stopProfile(trace.toString());
            JsonNode rootNode = new ObjectMapper().readTree(trace.toFile());
            String keep = System.getProperty("moco4j.profile.trace"); // where to keep the raw chrome trace, if set
            if (keep != null) {
                Files.move(trace, Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.deleteIfExists(trace);
            }
            JsonNode events = rootNode.isArray() ? rootNode : rootNode.path("traceEvents");
            print(selfTimes(events, types), wall, top);
        }
    }

    /** Self microseconds and call counts per op name, from complete ("X") events nested per thread. */
    static Map<String, double[]> selfTimes(JsonNode events, boolean types) {
        Map<String, List<double[]>> byThread = new HashMap<>();
        Map<String, List<String>> names = new HashMap<>();
        for (JsonNode e : events) {
            if ("X".equals(e.path("ph").asText()) && e.has("dur")) {
                String tid = e.path("tid").asText();
                byThread.computeIfAbsent(tid, k -> new ArrayList<>()).add(new double[] {e.path("ts").asDouble(),
                        e.path("dur").asDouble(), names.computeIfAbsent(tid, k -> new ArrayList<>()).size()});
                String name = e.path("name").asText();
                if (types && e.path("args").has("Input type")) {
                    name += " " + e.path("args").path("Input type").toString().replace("\"", "");
                }
                names.get(tid).add(name);
            }
        }
        Map<String, double[]> out = new HashMap<>();
        for (Map.Entry<String, List<double[]>> t : byThread.entrySet()) {
            List<double[]> spans = t.getValue();
            List<String> n = names.get(t.getKey());
            spans.sort((a, b) -> a[0] != b[0] ? Double.compare(a[0], b[0]) : Double.compare(b[1], a[1]));
            double[] self = new double[spans.size()];
            Deque<Integer> open = new ArrayDeque<>();
            for (int i = 0; i < spans.size(); i++) {
                double[] s = spans.get(i);
                while (!open.isEmpty() && spans.get(open.peek())[0] + spans.get(open.peek())[1] <= s[0]) {
                    open.pop();
                }
                self[i] = s[1];
                if (!open.isEmpty()) {
                    self[open.peek()] -= s[1];
                }
                open.push(i);
            }
            for (int i = 0; i < spans.size(); i++) {
                double[] acc = out.computeIfAbsent(n.get((int) spans.get(i)[2]), k -> new double[2]);
                acc[0] += self[i];
                acc[1]++;
            }
        }
        return out;
    }

    private static void print(Map<String, double[]> self, double wall, int top) {
        double total = self.values().stream().mapToDouble(a -> a[0]).sum();
        System.out.printf(Locale.ROOT, "{\"impl\": \"moco4j\", \"wall_s\": %.3f, \"ops_self_s\": %.3f, \"ops\": %d}%n",
                wall, total / 1e6, (long) self.values().stream().mapToDouble(a -> a[1]).sum());
        self.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0])).limit(top)
                .forEach(e -> System.out.printf(Locale.ROOT, "{\"op\": \"%s\", \"self_s\": %.4f, \"calls\": %d}%n",
                        e.getKey(), e.getValue()[0] / 1e6, (long) e.getValue()[1]));
    }
}
