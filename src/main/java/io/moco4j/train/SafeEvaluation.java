package io.moco4j.train;

import io.moco4j.eval.EpochEvaluator;
import io.moco4j.model.Encoder;
import java.io.PrintStream;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps an evaluation from ending a training run: days of training must not be lost because the monitor
 * met a bad image or ran out of memory. A failure is reported as one line (and counted), the epoch's
 * metrics go without its values, and training goes on. The data it will need is checked before the first
 * step (e.g. {@code KnnMonitor.checkData}), so what remains here is the unexpected.
 */
public final class SafeEvaluation implements EpochEvaluator {
    private static final Logger LOG = LoggerFactory.getLogger(SafeEvaluation.class);

    private final EpochEvaluator inner;
    private final String name;
    private final PrintStream out;
    private int failures;

    /** @param out where the one-line failure notice goes (besides the log); may be null */
    public SafeEvaluation(EpochEvaluator inner, String name, PrintStream out) {
        this.inner = inner;
        this.name = name;
        this.out = out;
    }

    @Override
    public boolean due(int epoch, int epochs) {
        return inner.due(epoch, epochs);
    }

    @Override
    public Map<String, Double> evaluate(Encoder encoder, int epoch) {
        try {
            return inner.evaluate(encoder, epoch);
        } catch (RuntimeException | OutOfMemoryError e) {
            failures++;
            String msg = "warning: the " + name + " after epoch " + (epoch + 1) + " failed (" + e.getClass().getSimpleName()
                    + ": " + e.getMessage() + "); skipped, training goes on";
            if (out != null) {
                out.println(msg);
            } else {
                LOG.warn(msg);
            }
            LOG.debug("evaluation failure", e);
            return Map.of();
        }
    }

    /** Evaluations that failed and were skipped so far. */
    public int failures() {
        return failures;
    }

    @Override
    public void close() {
        inner.close();
    }
}
