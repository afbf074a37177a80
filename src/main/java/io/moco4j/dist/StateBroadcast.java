package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.moco4j.util.NoGrad;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rank 0's tensors to every rank, in place: DistributedDataParallel's start-up broadcast; and BatchNorm running
 * statistics as the mean over ranks after each step (DDP's broadcast_buffers keeps rank 0's instead).
 */
public final class StateBroadcast {
    private StateBroadcast() {}

    /** Overwrites every tensor of {@code state} (same keys, shapes, dtypes on all ranks) with rank 0's. */
    public static void fromRoot(Collectives collectives, Map<String, NDArray> state) {
        if (collectives.size() == 1) {
            return;
        }
        // one broadcast per dtype (float32 weights and statistics, int64 counters) instead of one per tensor
        Map<DataType, List<NDArray>> byType = new LinkedHashMap<>();
        for (NDArray t : state.values()) {
            byType.computeIfAbsent(t.getDataType(), k -> new ArrayList<>()).add(t);
        }
        try (NoGrad ignored = NoGrad.enter()) {
            for (List<NDArray> group : byType.values()) {
                Packing.apply(group, packed -> collectives.broadcast(packed, 0));
            }
        }
    }

    /**
     * Floating-point buffers (BatchNorm running statistics) become the mean over ranks, others (counters, equal on
     * every rank) rank 0's. With split BN each rank's running statistics are the mean of its groups' updates, all
     * from the same previous value, so the mean over ranks is exactly the one-process update over all groups; with
     * SyncBN every rank holds the same values and the mean leaves them as they are.
     */
    public static void meanOverRanks(Collectives collectives, Map<String, NDArray> buffers) {
        if (collectives.size() == 1) {
            return;
        }
        Map<DataType, List<NDArray>> byType = new LinkedHashMap<>();
        for (NDArray t : buffers.values()) {
            byType.computeIfAbsent(t.getDataType(), k -> new ArrayList<>()).add(t);
        }
        try (NoGrad ignored = NoGrad.enter()) {
            byType.forEach((type, group) -> Packing.apply(group, packed -> {
                if (type.isFloating()) {
                    collectives.allReduceMean(packed);
                } else {
                    collectives.broadcast(packed, 0);
                }
            }));
        }
    }
}
