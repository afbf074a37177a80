package io.moco4j.cli;

import io.moco4j.eval.TrainingReport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = "PNG charts (loss, contrastive accuracy, lr, kNN) and a text summary of a run directory.")
final class ReportCommand implements Callable<Integer> {
    @Parameters(paramLabel = "RUN", description = "A pretrain or lincls run directory.")
    Path run;

    @Override
    public Integer call() {
        TrainingReport.run(run);
        return 0;
    }
}
