package io.moco4j.eval;

import io.moco4j.model.Encoder;
import java.util.Map;

/** Something measured on the query encoder at the end of some epochs, such as the kNN monitor. */
public interface EpochEvaluator extends AutoCloseable {
    /** Whether to run after epoch {@code epoch} (0-based) of {@code epochs}. */
    boolean due(int epoch, int epochs);

    /** Named values (percent for accuracies) to log, e.g. {@code knn_top1}. */
    Map<String, Double> evaluate(Encoder encoder, int epoch);

    @Override
    default void close() {}

    /** Never due (monitor off, or a rank other than 0 in a data-parallel run). */
    EpochEvaluator NONE = new EpochEvaluator() {
        @Override
        public boolean due(int epoch, int epochs) {
            return false;
        }

        @Override
        public Map<String, Double> evaluate(Encoder encoder, int epoch) {
            return Map.of();
        }
    };
}
