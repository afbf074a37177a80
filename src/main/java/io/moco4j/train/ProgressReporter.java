package io.moco4j.train;

import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows training progress: a live bar (epoch, step, loss, img/s, ETA) on a terminal, and plain
 * log lines every few steps when output goes to a file or a pipe, where a bar would be noise.
 */
public final class ProgressReporter implements AutoCloseable {
    private final boolean terminal;
    private final PrintStream out;
    private int epochs;
    private final int stepsPerEpoch;
    private final int logEvery;
    private ProgressBar bar;

    public ProgressReporter(boolean terminal, PrintStream out, int epochs, int stepsPerEpoch, int logEvery) {
        this.terminal = terminal;
        this.out = out;
        this.epochs = epochs;
        this.stepsPerEpoch = stepsPerEpoch;
        this.logEvery = logEvery;
    }

    /** The run's epoch count changed (a time budget re-planned it). */
    public void setEpochs(int epochs) {
        this.epochs = epochs;
    }

    /** A terminal is assumed when the JVM has a console and TERM is not "dumb". */
    public static boolean isTerminal() {
        return System.console() != null && !"dumb".equals(System.getenv("TERM"));
    }

    public void startEpoch(int epoch, int firstStep) {
        if (terminal) {
            bar = new ProgressBarBuilder().setTaskName(String.format(Locale.ROOT, "epoch %d/%d", epoch + 1, epochs))
                    .setInitialMax(stepsPerEpoch).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                    .continuousUpdate().setConsumer(new me.tongfei.progressbar.ConsoleProgressBarConsumer(out)).build();
            bar.stepTo(firstStep);
        }
    }

    public void step(int epoch, int stepInEpoch, float loss, float acc1, double imagesPerSecond, double lr) {
        if (terminal) {
            bar.stepTo(stepInEpoch);
            bar.setExtraMessage(String.format(Locale.ROOT, "loss %.3f acc1 %.1f %.0f img/s", loss, acc1, imagesPerSecond));
        } else if (stepInEpoch % logEvery == 0 || stepInEpoch == stepsPerEpoch) {
            out.printf(Locale.ROOT, "epoch %d/%d step %d/%d loss %.4f acc1 %.2f lr %.5f %.1f img/s%n",
                    epoch + 1, epochs, stepInEpoch, stepsPerEpoch, loss, acc1, lr, imagesPerSecond);
        }
    }

    public void endEpoch(String summary) {
        if (bar != null) {
            bar.close();
            bar = null;
        }
        out.println(summary);
    }

    public void message(String line) {
        if (bar != null) {
            // Keep the bar intact: print on the next line.
            out.println();
        }
        out.println(line);
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }
}
