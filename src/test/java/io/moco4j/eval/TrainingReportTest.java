package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.util.UserException;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingReportTest {
    @TempDir
    Path dir;

    /** 3 epochs of 20 steps (a step record every 2 steps); kNN after epochs 2 and 3 (0-based 1 and 2). */
    private Path syntheticRun(boolean truncatedLastLine) throws Exception {
        List<String> lines = new ArrayList<>();
        int step = 0;
        for (int e = 0; e < 3; e++) {
            for (int i = 0; i < 10; i++) {
                step += 2;
                lines.add(String.format(Locale.ROOT,
                        "{\"type\":\"step\",\"epoch\":%d,\"step\":%d,\"loss\":%.4f,\"acc1\":%.2f,\"acc5\":%.2f,\"lr\":%.4f,\"img_per_s\":%d,\"time\":%d}",
                        e, step, 8.0 - step * 0.05, step * 1.0, 20 + step * 1.0, 0.03 / (e + 1), 100 + step, 1700000000 + step));
            }
            String knn = e == 0 ? "" : String.format(Locale.ROOT, ",\"knn_top1\":%.1f,\"knn_top5\":%.1f", e == 1 ? 40.0 : 35.5, e == 1 ? 80.0 : 81.0);
            lines.add(String.format(Locale.ROOT,
                    "{\"type\":\"epoch\",\"epoch\":%d,\"loss\":%.4f,\"acc1\":%.2f,\"acc5\":%.2f,\"lr\":%.4f,\"epoch_seconds\":10.0,\"elapsed_seconds\":%.1f%s}",
                    e, 7.5 - e, 10.0 * e, 30.0 + e, 0.03 / (e + 1), 10.0 * (e + 1), knn));
        }
        if (truncatedLastLine) {
            lines.add("{\"type\":\"step\",\"epoch\":3,\"st");
        }
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.write(run.resolve("metrics.jsonl"), lines);
        return run;
    }

    @Test
    void chartsAndSummaryFromSyntheticLog() throws Exception {
        Path run = syntheticRun(true);
        TrainingReport.Report r = TrainingReport.write(run);
        assertEquals(4, r.charts().size());
        for (String name : List.of("loss.png", "accuracy.png", "lr.png", "knn.png")) {
            Path png = run.resolve("charts").resolve(name);
            assertTrue(Files.size(png) > 1000, name);
            BufferedImage img = ImageIO.read(png.toFile());
            assertEquals(Charts.WIDTH, img.getWidth(), name);
            assertEquals(Charts.HEIGHT, img.getHeight(), name);
        }
        String s = Files.readString(run.resolve("report.txt"));
        assertEquals(r.summary(), s);
        assertTrue(s.contains("epochs completed: 3, last logged step 60"), s);
        assertTrue(s.contains("final epoch 3: loss 5.5000"), s);
        assertTrue(s.contains("kNN top-1: best 40.00% (epoch 2), last 35.50% (epoch 3, top-5 81.00%)"), s);
        // img_per_s is 100 + step for steps 2, 4, ..., 60: median of 102..160 is (130 + 132) / 2 = 131
        assertTrue(s.contains("median 131.0 img/s over 30 logged steps"), s);
        assertTrue(s.contains("10.0 s per epoch (mean), 30.0 s elapsed"), s);
    }

    /**
     * The synthetic run with the online probe's values in every epoch record (as Pretraining writes them), and epoch 2
     * logged twice (a resume redid it: the later record counts): probe.png holds the probe's top-1 per epoch beside
     * the kNN monitor's top-1 (epochs 2 and 3 only), both read from the log, and the summary names the last probe value.
     */
    @Test
    void onlineProbeIsChartedBesideKnn() throws Exception {
        Path run = syntheticRun(false);
        double[] probe = {21.5, 30.25, 44.0};
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            if (line.contains("\"type\":\"epoch\"")) {
                int e = Integer.parseInt(line.replaceAll(".*\"epoch\":(\\d+),.*", "$1"));
                if (e == 1) { // the first, replaced record of epoch 2
                    lines.add(line.replace("\"epoch_seconds\"", "\"probe_top1\":99.0,\"epoch_seconds\""));
                }
                line = line.replace("\"epoch_seconds\"", String.format(Locale.ROOT,
                        "\"probe_top1\":%s,\"probe_train_top1\":50.0,\"probe_train_loss\":1.5,\"epoch_seconds\"", probe[e]));
            }
            lines.add(line);
        }
        Files.write(run.resolve("metrics.jsonl"), lines);

        List<Curve> curves = TrainingReport.probeCurves(RunMetrics.read(run));
        assertEquals(List.of("online linear probe top-1", "kNN top-1"), curves.stream().map(Curve::name).toList());
        assertArrayEquals(new double[] {1, 2, 3}, curves.get(0).x());
        assertArrayEquals(probe, curves.get(0).y());
        assertArrayEquals(new double[] {2, 3}, curves.get(1).x());
        assertArrayEquals(new double[] {40.0, 35.5}, curves.get(1).y());

        TrainingReport.Report r = TrainingReport.write(run);
        Path png = run.resolve("charts/probe.png");
        assertTrue(r.charts().contains(png), r.charts().toString());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(Charts.WIDTH, img.getWidth());
        assertTrue(r.summary().contains("online probe top-1: last 44.00% (epoch 3)"), r.summary());
        assertTrue(r.summary().contains("charts/probe.png"), r.summary());
    }

    @Test
    void noProbeChartWithoutProbeValues() throws Exception {
        Path run = syntheticRun(false);
        assertTrue(TrainingReport.probeCurves(RunMetrics.read(run)).isEmpty());
        TrainingReport.write(run);
        assertTrue(Files.notExists(run.resolve("charts/probe.png")));
    }

    @Test
    void noKnnChartWithoutKnnRecords() throws Exception {
        Path run = Files.createDirectories(dir.resolve("r2"));
        Files.writeString(run.resolve("metrics.jsonl"),
                "{\"type\":\"epoch\",\"epoch\":0,\"loss\":9.0,\"acc1\":1.0,\"acc5\":5.0,\"lr\":0.03}\n"
                        + "{\"type\":\"epoch\",\"epoch\":1,\"loss\":8.0,\"acc1\":2.0,\"acc5\":6.0,\"lr\":0.03}\n");
        TrainingReport.Report r = TrainingReport.write(run);
        assertEquals(3, r.charts().size());
        assertTrue(Files.notExists(run.resolve("charts/knn.png")));
        assertTrue(r.summary().contains("kNN: not run"), r.summary());
    }

    @Test
    void missingOrGarbledLogIsUserError() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        UserException missing = assertThrows(UserException.class, () -> TrainingReport.write(empty));
        assertTrue(missing.getMessage().contains("no metrics file"), missing.getMessage());
        assertThrows(UserException.class, () -> TrainingReport.write(dir.resolve("does-not-exist")));

        Path garbled = Files.createDirectories(dir.resolve("garbled"));
        Files.writeString(garbled.resolve("metrics.jsonl"),
                "{\"type\":\"epoch\",\"epoch\":0,\"loss\":9.0}\nthis is not json\n{\"type\":\"epoch\",\"epoch\":1,\"loss\":8.0}\n");
        UserException bad = assertThrows(UserException.class, () -> TrainingReport.write(garbled));
        assertTrue(bad.getMessage().contains("line 2"), bad.getMessage());

        Path nothing = Files.createDirectories(dir.resolve("nothing"));
        Files.writeString(nothing.resolve("metrics.jsonl"), "{\"type\":\"note\"}\n");
        assertThrows(UserException.class, () -> TrainingReport.write(nothing));
    }

    @Test
    void comparisonChartOfSeveralRuns() throws Exception {
        Path run = syntheticRun(false);
        Curve ours = Curve.knnVsEpoch("MoCo4J", run);
        assertEquals(2, ours.x().length);
        assertEquals(2.0, ours.x()[0]);
        assertEquals(40.0, ours.y()[0]);
        Curve seconds = Curve.knnVsSeconds("MoCo4J", run);
        assertEquals(30.0, seconds.x()[1]);
        Curve reference = new Curve("PyTorch reference", new double[] {1, 2, 3}, new double[] {30, 38, 42});
        Path png = dir.resolve("compare.png");
        TrainingReport.compareKnn(png, "epoch", List.of(ours, reference));
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(Charts.WIDTH, img.getWidth());
    }

    @Test
    void downsamplingAveragesBins() {
        int n = Charts.MAX_POINTS * 2;
        double[] x = new double[n];
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i;
            y[i] = i % 2; // pairs (0, 1) average to 0.5
        }
        Curve d = Charts.downsample(new Curve("c", x, y));
        assertEquals(Charts.MAX_POINTS, d.x().length);
        assertEquals(0.5, d.x()[0], 1e-12);
        assertEquals(0.5, d.y()[7], 1e-12);
    }
}
