package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.moco4j.model.Tensors;
import io.moco4j.util.NoGrad;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs one in-place collective over several tensors at once: they are flattened into one buffer, the collective
 * runs on it, and the results are copied back. Many small tensors (BatchNorm buffers, bias gradients) then cost
 * one call instead of one each.
 */
final class Packing {
    private Packing() {}

    /** Applies {@code inPlace} to the concatenation of {@code tensors} (one dtype, one device), then unpacks. */
    static void apply(List<NDArray> tensors, Consumer<NDArray> inPlace) {
        if (tensors.size() == 1 && !tensors.get(0).getShape().isScalar()) {
            inPlace.accept(tensors.get(0));
            return;
        }
        NDManager owner = tensors.get(0).getManager();
        try (NDManager tmp = owner.newSubManager(); NoGrad ignored = NoGrad.enter()) {
            NDList flat = new NDList(tensors.size());
            for (NDArray t : tensors) {
                NDArray f = t.flatten();
                f.attach(tmp);
                flat.add(f);
            }
            NDArray packed = NDArrays.concat(flat);
            packed.attach(tmp);
            inPlace.accept(packed);
            long from = 0;
            for (NDArray t : tensors) {
                NDArray part = packed.get(from + ":" + (from + t.size())).reshape(t.getShape());
                part.attach(tmp);
                Tensors.copyInto(t, part);
                from += t.size();
            }
        }
    }
}
