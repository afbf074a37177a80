package io.moco4j.eval;

import java.nio.file.Path;
import java.util.List;

/** A named series of (x, y) points for a comparison chart, e.g. kNN top-1 of one run vs epoch. */
public record Curve(String name, double[] x, double[] y) {
    public Curve {
        if (x.length != y.length) {
            throw new IllegalArgumentException("curve " + name + " has " + x.length + " x values and " + y.length + " y values");
        }
    }

    /** kNN top-1 of a run against completed epochs (1-based: the value after epoch E is plotted at E + 1). */
    public static Curve knnVsEpoch(String name, Path runDir) {
        List<RunMetrics.Epoch> knn = RunMetrics.read(runDir).knnEpochsLatest();
        return new Curve(name, knn.stream().mapToDouble(e -> e.epoch() + 1).toArray(),
                knn.stream().mapToDouble(RunMetrics.Epoch::knnTop1).toArray());
    }

    /** kNN top-1 of a run against training seconds ({@code elapsed_seconds} of the epoch record). */
    public static Curve knnVsSeconds(String name, Path runDir) {
        List<RunMetrics.Epoch> knn = RunMetrics.read(runDir).knnEpochsLatest();
        return new Curve(name, knn.stream().mapToDouble(RunMetrics.Epoch::elapsedSeconds).toArray(),
                knn.stream().mapToDouble(RunMetrics.Epoch::knnTop1).toArray());
    }
}
