package io.moco4j.cli;

import io.moco4j.eval.Curve;
import io.moco4j.eval.TrainingReport;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = {"Charts and a text summary of a run directory.",
                "PNG charts of loss, contrastive accuracy, lr and kNN (pretrain), or of a linear probe's accuracy and loss (lincls)."})
final class ReportCommand implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", description = "A pretrain or lincls run directory.")
    Path run;

    @Option(names = "--reference", paramLabel = "NAME=S:ACC,...",
            description = {"Another kNN curve to draw with this run's in charts/knn_vs_seconds.png, as training",
                    "seconds:top-1 points, e.g. --reference pytorch=260:38.9,520:42.1"})
    Map<String, String> references = new LinkedHashMap<>();

    @Override
    public Integer call() {
        TrainingReport.run(run);
        if (!references.isEmpty()) {
            List<Curve> curves = new ArrayList<>();
            curves.add(Curve.knnVsSeconds("MoCo4J (" + run.getFileName() + ")", run));
            references.forEach((name, points) -> curves.add(parse(name, points)));
            Path png = run.resolve("charts").resolve("knn_vs_seconds.png");
            TrainingReport.compareKnn(png, "training time (s)", curves);
            System.out.println("comparison chart: " + png);
        }
        return 0;
    }

    static Curve parse(String name, String points) {
        String[] pairs = points.split(",");
        double[] x = new double[pairs.length];
        double[] y = new double[pairs.length];
        for (int i = 0; i < pairs.length; i++) {
            String[] xy = pairs[i].split(":");
            try {
                x[i] = Double.parseDouble(xy[0].trim());
                y[i] = Double.parseDouble(xy[1].trim());
            } catch (RuntimeException e) {
                throw new UserException("--reference " + name + "=" + points + " is not a list of seconds:accuracy pairs, e.g. 260:38.9,520:42.1");
            }
        }
        return new Curve(name, x, y);
    }
}
