package io.moco4j.train;

import ai.djl.ndarray.NDArray;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.StateBroadcast;
import io.moco4j.eval.StateChecksum;
import io.moco4j.method.KeyQueue;
import io.moco4j.method.MomentumContrast;
import io.moco4j.model.Network;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every rank starts from rank 0's state: the networks' tensors and the queue are broadcast from rank 0 in place,
 * then each rank's per-tensor checksums are gathered and compared, so a rank that diverged (different
 * architecture, a failed copy) stops the run naming the tensor instead of training silently apart.
 */
public final class StateSync {
    private StateSync() {}

    /** Every tensor of the model by checkpoint name: each network's state plus the method's extra state (queue). */
    public static Map<String, NDArray> state(MomentumContrast moco) {
        Map<String, NDArray> all = new LinkedHashMap<>();
        for (Map.Entry<String, Network> n : moco.networks().entrySet()) {
            n.getValue().stateDict().forEach((k, v) -> all.put(n.getKey() + k, v));
        }
        all.putAll(moco.extraState());
        return all;
    }

    /**
     * Makes every rank start from rank 0's model and queue (fresh or resumed), then checks it by checksums.
     * Counters (the queue pointer) come from the same checkpoint or start at zero on every rank.
     */
    public static void startTogether(Collectives collectives, MomentumContrast moco) {
        if (collectives.size() == 1) {
            return;
        }
        Map<String, NDArray> state = state(moco);
        broadcastFromRoot(collectives, state);
        verifyIdentical(collectives, state, "after the initial broadcast");
        long[] mine = moco.counters().values().stream().mapToLong(Long::longValue).sorted().toArray();
        long[] all = collectives.allGather(mine);
        for (int r = 1; r < collectives.size(); r++) {
            for (int i = 0; i < mine.length; i++) {
                if (all[r * mine.length + i] != all[i]) {
                    throw new IllegalStateException("rank " + r + "'s counters " + moco.counters()
                            + " differ from rank 0's; every rank must start from the same checkpoint");
                }
            }
        }
    }

    /** Overwrites every tensor of {@code state} (same keys, shapes, dtypes on all ranks) with rank 0's. */
    public static void broadcastFromRoot(Collectives collectives, Map<String, NDArray> state) {
        StateBroadcast.fromRoot(collectives, state);
    }

    /** The queue's keys and pointer become rank 0's. */
    public static void broadcastFromRoot(Collectives collectives, KeyQueue queue) {
        if (collectives.size() == 1) {
            return;
        }
        collectives.broadcast(queue.keys(), 0);
        long[] pointers = collectives.allGather(new long[] {queue.pointer()});
        for (int r = 1; r < pointers.length; r++) {
            if (pointers[r] != pointers[0]) {
                throw new IllegalStateException("rank " + r + "'s queue pointer " + pointers[r] + " differs from rank 0's "
                        + pointers[0] + "; every rank must start from the same checkpoint");
            }
        }
    }

    /** Throws naming the first tensor where some rank's {@code state} differs from rank 0's. */
    public static void verifyIdentical(Collectives collectives, Map<String, NDArray> state, String what) {
        if (collectives.size() == 1) {
            return;
        }
        StateChecksum mine = StateChecksum.of(state);
        long[] local = mine.values();
        long[] counts = collectives.allGather(new long[] {local.length});
        for (int r = 1; r < counts.length; r++) {
            if (counts[r] != counts[0]) {
                throw new IllegalStateException(what + ": rank " + r + " has " + counts[r] + " tensors, rank 0 has "
                        + counts[0] + "; every rank must build the same model");
            }
        }
        long[] all = collectives.allGather(local);
        for (int r = 1; r < collectives.size(); r++) {
            for (int i = 0; i < local.length; i++) {
                if (all[r * local.length + i] != all[i]) {
                    throw new IllegalStateException(what + ": rank " + r + "'s " + mine.names().get(i)
                            + " differs from rank 0's; the ranks are no longer in step");
                }
            }
        }
    }
}
