package io.moco4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.eval.Charts;
import io.moco4j.eval.Curve;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Summarises a {@link MemoryBenchmark} soak log (its JSON lines): live NDArrays and RSS after warm-up, and
 * plots both against the step. {@code SoakReport LOG.jsonl OUT_PREFIX [WARMUP_STEPS]} writes
 * {@code OUT_PREFIX-rss.png} and {@code OUT_PREFIX-ndarrays.png} and prints one summary line.
 */
public final class SoakReport {
    public static void main(String[] args) throws Exception {
        Path log = Path.of(args[0]);
        String prefix = args[1];
        long warmup = args.length > 2 ? Long.parseLong(args[2]) : 500;
        ObjectMapper json = new ObjectMapper();
        List<double[]> rows = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            if (!line.startsWith("{\"step\"")) {
                continue;
            }
            JsonNode n = json.readTree(line);
            rows.add(new double[] {n.get("step").asDouble(), n.get("rss_mb").asDouble(), n.get("live_ndarrays").asDouble(),
                    n.path("seconds").asDouble(Double.NaN)});
        }
        double[] step = rows.stream().mapToDouble(r -> r[0]).toArray();
        double[] rss = rows.stream().mapToDouble(r -> r[1]).toArray();
        double[] live = rows.stream().mapToDouble(r -> r[2]).toArray();
        Charts.write(Path.of(prefix + "-rss.png"), "Soak: process RSS", "step", "RSS (MB)", List.of(new Curve("RSS", step, rss)));
        Charts.write(Path.of(prefix + "-ndarrays.png"), "Soak: live NDArrays under the root manager", "step", "live NDArrays",
                List.of(new Curve("live NDArrays", step, live)));
        double rssMin = Double.MAX_VALUE, rssMax = 0, liveMin = Double.MAX_VALUE, liveMax = 0, first = Double.NaN;
        for (double[] r : rows) {
            if (r[0] <= warmup) {
                continue;
            }
            if (Double.isNaN(first)) {
                first = r[1];
            }
            rssMin = Math.min(rssMin, r[1]);
            rssMax = Math.max(rssMax, r[1]);
            liveMin = Math.min(liveMin, r[2]);
            liveMax = Math.max(liveMax, r[2]);
        }
        double[] lastRow = rows.get(rows.size() - 1);
        System.out.printf(Locale.ROOT, "steps %d in %.0f s; after warm-up (%d steps): RSS %.1f..%.1f MB (first %.1f, last %.1f,"
                        + " spread %.2f%% of the first), live NDArrays %.0f..%.0f%n",
                (long) lastRow[0], lastRow[3], warmup, rssMin, rssMax, first, lastRow[1], 100 * (rssMax - rssMin) / first, liveMin, liveMax);
    }
}
