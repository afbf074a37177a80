package io.moco4j.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MomentumContrast;
import java.util.List;

/**
 * Weights a new run starts from instead of its seed ({@code pretrain --init-from}; read by
 * {@code interop.InitFromFile}). Only the model's starting values change: the queue, the optimizer, the schedules
 * and the epoch count stay the new run's, and a kNN evaluation before the first step shows the starting point.
 */
public interface InitialWeights {

    /**
     * Loads the weights into {@code moco}, a fresh model of {@code config}, and makes the key encoder a copy of the
     * query encoder.
     *
     * @return one line per part of the model (backbone, head, predictor, key encoder): from the file or fresh, and why
     */
    List<String> apply(MomentumContrast moco, MocoConfig config);

    /** Where the weights came from (file name, SHA-256, layout, parts), kept in every checkpoint's metadata. */
    ObjectNode provenance();
}
