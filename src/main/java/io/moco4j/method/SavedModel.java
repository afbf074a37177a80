package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Map;

/**
 * What {@link MethodFactory#restored} reads from a saved run: each network's tensors by checkpoint prefix and the
 * v1/v2 queue. The checkpoint format lives in {@code train}; the method only needs these three answers.
 */
public interface SavedModel {
    /** The tensors under {@code prefix} (e.g. {@code encoder_q.}) with the prefix removed, in {@code manager}. */
    Map<String, NDArray> tensors(String prefix, NDManager manager);

    /** The saved queue of keys (MoCo v1/v2), in {@code manager}. */
    NDArray queue(NDManager manager);

    /** Where the next keys enter the queue. */
    int queuePointer();
}
