package io.moco4j.eval;

import io.moco4j.util.Stats;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Turns a run directory's {@code metrics.jsonl} into PNG charts under {@code charts/} (loss, contrastive
 * accuracy, learning rate, and kNN accuracy when the monitor ran) and a short text summary written to
 * {@code report.txt} and returned. Step-level series are plotted against the global step with the
 * per-epoch means at the last step of each epoch; a log without step records is plotted per epoch.
 * A linear probe's run directory ({@code lincls_epoch} records) gets accuracy and loss charts per epoch.
 */
public final class TrainingReport {
    /** The summary text and the charts written. */
    public record Report(String summary, List<Path> charts, Path summaryFile) {}

    private TrainingReport() {}

    /** Writes the charts and {@code report.txt} into {@code runDir}; prints nothing (see {@link #run}). */
    public static Report write(Path runDir) {
        if (!Files.isDirectory(runDir)) {
            throw new UserException("run directory " + runDir + " does not exist; pass the --out folder of a pretraining run");
        }
        RunMetrics m = RunMetrics.read(runDir);
        Path chartDir = runDir.resolve("charts");
        List<Path> charts = new ArrayList<>();
        try {
            Files.createDirectories(chartDir);
            if (m.steps().isEmpty() && m.epochs().isEmpty()) {
                return probeReport(runDir, m, chartDir);
            }
            chart(m, chartDir.resolve("loss.png"), "InfoNCE loss", "loss", List.of(
                    series("loss", RunMetrics.Step::loss, RunMetrics.Epoch::loss)), charts);
            chart(m, chartDir.resolve("accuracy.png"), "Contrastive accuracy (positive key among queue)", "accuracy (%)", List.of(
                    series("acc@1", RunMetrics.Step::acc1, RunMetrics.Epoch::acc1),
                    series("acc@5", RunMetrics.Step::acc5, RunMetrics.Epoch::acc5)), charts);
            chart(m, chartDir.resolve("lr.png"), "Learning rate", "learning rate", List.of(
                    series("lr", RunMetrics.Step::lr, RunMetrics.Epoch::lr)), charts);
            List<RunMetrics.Epoch> knn = m.knnEpochsLatest();
            if (!knn.isEmpty()) {
                double[] x = knn.stream().mapToDouble(e -> e.epoch() + 1).toArray();
                Path png = chartDir.resolve("knn.png");
                Charts.write(png, "kNN accuracy of the query encoder", "epoch", "accuracy (%)", List.of(
                        new Curve("kNN top-1", x, knn.stream().mapToDouble(RunMetrics.Epoch::knnTop1).toArray()),
                        new Curve("kNN top-5", x, knn.stream().mapToDouble(RunMetrics.Epoch::knnTop5).toArray())));
                charts.add(png);
            }
            List<Curve> probeCurves = probeCurves(m);
            if (!probeCurves.isEmpty()) {
                Path png = chartDir.resolve("probe.png");
                Charts.write(png, "Online linear probe on --val (pooled backbone features)", "epoch", "accuracy (%)", probeCurves);
                charts.add(png);
            }
            String summary = summary(runDir, m, charts);
            Path summaryFile = runDir.resolve("report.txt");
            Files.writeString(summaryFile, summary, StandardCharsets.UTF_8);
            return new Report(summary, List.copyOf(charts), summaryFile);
        } catch (IOException e) {
            throw new UserException("cannot write the report into " + runDir + " (" + e.getMessage() + "); check free space and permissions", e);
        }
    }

    /**
     * The curves of {@code charts/probe.png}: the online probe's top-1 per epoch and, beside it, the kNN monitor's
     * top-1 (two views of the same question: are the features separable?); none when the probe never ran. Epochs are
     * 1-based (the kNN of --init-from weights before the first step sits at 0).
     */
    static List<Curve> probeCurves(RunMetrics m) {
        List<RunMetrics.Epoch> probe = m.probeEpochsLatest();
        if (probe.isEmpty()) {
            return List.of();
        }
        List<Curve> curves = new ArrayList<>();
        curves.add(new Curve("online linear probe top-1", probe.stream().mapToDouble(e -> e.epoch() + 1).toArray(),
                probe.stream().mapToDouble(RunMetrics.Epoch::probeTop1).toArray()));
        List<RunMetrics.Epoch> knn = m.knnEpochsLatest();
        if (!knn.isEmpty()) {
            curves.add(new Curve("kNN top-1", knn.stream().mapToDouble(e -> e.epoch() + 1).toArray(),
                    knn.stream().mapToDouble(RunMetrics.Epoch::knnTop1).toArray()));
        }
        return curves;
    }

    /** A linear probe run directory: accuracy and loss per epoch. */
    private static Report probeReport(Path runDir, RunMetrics m, Path chartDir) throws IOException {
        List<RunMetrics.ProbeEpoch> p = m.probeEpochs();
        double[] x = p.stream().mapToDouble(e -> e.epoch() + 1).toArray();
        Path acc = chartDir.resolve("lincls_accuracy.png");
        Charts.write(acc, "Linear probe accuracy", "epoch", "accuracy (%)", List.of(
                new Curve("val top-1", x, p.stream().mapToDouble(RunMetrics.ProbeEpoch::valTop1).toArray()),
                new Curve("val top-5", x, p.stream().mapToDouble(RunMetrics.ProbeEpoch::valTop5).toArray()),
                new Curve("train top-1", x, p.stream().mapToDouble(RunMetrics.ProbeEpoch::trainTop1).toArray())));
        Path loss = chartDir.resolve("lincls_loss.png");
        Charts.write(loss, "Linear probe cross-entropy", "epoch", "loss", List.of(
                new Curve("train", x, p.stream().mapToDouble(RunMetrics.ProbeEpoch::trainLoss).toArray()),
                new Curve("val", x, p.stream().mapToDouble(RunMetrics.ProbeEpoch::valLoss).toArray())));
        RunMetrics.ProbeEpoch best = p.get(0);
        for (RunMetrics.ProbeEpoch e : p) {
            if (e.valTop1() > best.valTop1()) {
                best = e;
            }
        }
        RunMetrics.ProbeEpoch last = p.get(p.size() - 1);
        String summary = String.format(Locale.ROOT, "run: %s%nlinear probe epochs: %d%nval top-1: best %.2f%% (epoch %d), last %.2f%% (top-5 %.2f%%)%n"
                        + "final train loss %.4f, %.1f s per epoch (mean)%ncharts: %s %s%n",
                runDir.toAbsolutePath().normalize(), p.size(), best.valTop1(), best.epoch() + 1, last.valTop1(), last.valTop5(),
                last.trainLoss(), p.stream().mapToDouble(RunMetrics.ProbeEpoch::epochSeconds).filter(Double::isFinite).average().orElse(Double.NaN),
                runDir.relativize(acc), runDir.relativize(loss));
        Path summaryFile = runDir.resolve("report.txt");
        Files.writeString(summaryFile, summary, StandardCharsets.UTF_8);
        return new Report(summary, List.of(acc, loss), summaryFile);
    }

    /** {@link #write} and print the summary to stdout: the entry point of {@code moco4j report}. */
    public static Report run(Path runDir) {
        Report r = write(runDir);
        System.out.print(r.summary());
        return r;
    }

    /** Several kNN curves (e.g. ours vs the PyTorch reference) on one chart. */
    public static void compareKnn(Path png, String xTitle, List<Curve> curves) {
        Charts.write(png, "kNN top-1 accuracy", xTitle, "kNN top-1 (%)", curves);
    }

    private record Series(String name, ToDoubleFunction<RunMetrics.Step> step, ToDoubleFunction<RunMetrics.Epoch> epoch) {}

    private static Series series(String name, ToDoubleFunction<RunMetrics.Step> step, ToDoubleFunction<RunMetrics.Epoch> epoch) {
        return new Series(name, step, epoch);
    }

    private static void chart(RunMetrics m, Path png, String title, String yTitle, List<Series> series, List<Path> out) {
        List<Curve> curves = new ArrayList<>();
        List<RunMetrics.Epoch> epochs = m.epochsLatest();
        if (!m.steps().isEmpty()) {
            double[] steps = m.steps().stream().mapToDouble(RunMetrics.Step::step).toArray();
            Map<Integer, Double> lastStepOfEpoch = new HashMap<>();
            for (RunMetrics.Step s : m.steps()) {
                lastStepOfEpoch.merge(s.epoch(), (double) s.step(), Math::max);
            }
            List<RunMetrics.Epoch> placed = epochs.stream().filter(e -> lastStepOfEpoch.containsKey(e.epoch())).toList();
            for (Series s : series) {
                curves.add(new Curve(s.name() + " (logged steps)", steps, m.steps().stream().mapToDouble(s.step()).toArray()));
                if (!s.name().equals("lr")) {
                    curves.add(new Curve(s.name() + " (epoch mean)", placed.stream().mapToDouble(e -> lastStepOfEpoch.get(e.epoch())).toArray(),
                            placed.stream().mapToDouble(s.epoch()).toArray()));
                }
            }
        } else {
            double[] x = epochs.stream().mapToDouble(e -> e.epoch() + 1).toArray();
            for (Series s : series) {
                curves.add(new Curve(s.name(), x, epochs.stream().mapToDouble(s.epoch()).toArray()));
            }
        }
        boolean any = curves.stream().map(Charts::finite).anyMatch(c -> c.x().length > 0);
        if (any) {
            Charts.write(png, title, m.steps().isEmpty() ? "epoch" : "step", yTitle, curves);
            out.add(png);
        }
    }

    static String summary(Path runDir, RunMetrics m, List<Path> charts) {
        StringBuilder s = new StringBuilder();
        // epoch -1 is the kNN of --init-from weights before the first step, not a trained epoch
        List<RunMetrics.Epoch> epochs = m.epochsLatest().stream().filter(e -> e.epoch() >= 0).toList();
        s.append("run: ").append(runDir.toAbsolutePath().normalize()).append('\n');
        long lastStep = m.steps().isEmpty() ? -1 : m.steps().get(m.steps().size() - 1).step();
        s.append(String.format(Locale.ROOT, "epochs completed: %d%s%n", epochs.size(),
                lastStep >= 0 ? ", last logged step " + lastStep : ""));
        if (!epochs.isEmpty()) {
            RunMetrics.Epoch last = epochs.get(epochs.size() - 1);
            s.append(String.format(Locale.ROOT, "final epoch %d: loss %.4f, acc@1 %.2f%%, acc@5 %.2f%%, lr %.6g%n",
                    last.epoch() + 1, last.loss(), last.acc1(), last.acc5(), last.lr()));
        } else if (!m.steps().isEmpty()) {
            RunMetrics.Step last = m.steps().get(m.steps().size() - 1);
            s.append(String.format(Locale.ROOT, "last step %d: loss %.4f, acc@1 %.2f%%, lr %.6g (no epoch finished)%n",
                    last.step(), last.loss(), last.acc1(), last.lr()));
        }
        List<RunMetrics.Epoch> knn = m.knnEpochsLatest();
        if (!knn.isEmpty()) {
            RunMetrics.Epoch best = knn.get(0);
            for (RunMetrics.Epoch e : knn) {
                if (e.knnTop1() > best.knnTop1()) {
                    best = e;
                }
            }
            RunMetrics.Epoch lastKnn = knn.get(knn.size() - 1);
            s.append(String.format(Locale.ROOT, "kNN top-1: best %.2f%% (epoch %d), last %.2f%% (epoch %d, top-5 %.2f%%)%n",
                    best.knnTop1(), best.epoch() + 1, lastKnn.knnTop1(), lastKnn.epoch() + 1, lastKnn.knnTop5()));
        } else {
            s.append("kNN: not run (enable the monitor with train.knn_every)\n");
        }
        List<RunMetrics.Epoch> probe = m.probeEpochsLatest();
        if (!probe.isEmpty()) {
            RunMetrics.Epoch lastProbe = probe.get(probe.size() - 1);
            s.append(String.format(Locale.ROOT, "online probe top-1: last %.2f%% (epoch %d)%n", lastProbe.probeTop1(),
                    lastProbe.epoch() + 1));
        }
        double[] rates = m.steps().stream().mapToDouble(RunMetrics.Step::imgPerSec).filter(Double::isFinite).toArray();
        if (rates.length > 0) {
            s.append(String.format(Locale.ROOT, "throughput: median %.1f img/s over %d logged steps%n", Stats.median(rates), rates.length));
        }
        double[] epochSeconds = epochs.stream().mapToDouble(RunMetrics.Epoch::epochSeconds).filter(Double::isFinite).toArray();
        if (epochSeconds.length > 0) {
            double elapsed = epochs.get(epochs.size() - 1).elapsedSeconds();
            s.append(String.format(Locale.ROOT, "time: %.1f s per epoch (mean)%s%n", Arrays.stream(epochSeconds).average().orElse(Double.NaN),
                    Double.isFinite(elapsed) ? String.format(Locale.ROOT, ", %.1f s elapsed", elapsed) : ""));
        }
        if (!charts.isEmpty()) {
            s.append("charts:");
            for (Path c : charts) {
                s.append(' ').append(runDir.relativize(c));
            }
            s.append('\n');
        }
        return s.toString();
    }

}
