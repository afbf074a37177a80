package io.moco4j.method;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.model.Encoder;
import io.moco4j.model.Mlp;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Builds the MoCo method a configuration names ({@code moco.version}), fresh or from a checkpoint. */
public final class MethodFactory {
    private MethodFactory() {}

    /** A new run's model, initialised from {@code train.seed} (tools replaying a run start here too). */
    public static MomentumContrast fresh(MocoConfig cfg, NDManager root) {
        long seed = cfg.train().seed();
        List<AutoCloseable> made = new ArrayList<>();
        try {
            Encoder q = track(made, Encoders.create(cfg, root, seed));
            Encoder k = track(made, Encoders.create(cfg, root, seed));
            if (cfg.version() < 3) { // v1/v2: MocoV1V2 with its queue
                KeyQueue queue = track(made, KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), seed + 1));
                Networks.copy(q, k); // the key encoder starts as an exact copy, as in the paper
                return new MocoV1V2(q, k, queue, shuffler(cfg), cfg.moco().temperature(), cfg.moco().symmetric(), cfg.version());
            }
            Mlp predictor = track(made, Encoders.predictor(cfg, root, seed));
            return MocoV3.initial(q, k, predictor, cfg.moco().temperature());
        } catch (RuntimeException e) {
            closeAll(made);
            throw e;
        }
    }

    /** The model of a pretraining checkpoint: every network strictly loaded, the queue and its pointer restored. */
    public static MomentumContrast restored(MocoConfig cfg, NDManager root, SavedModel ckpt) {
        long seed = cfg.train().seed();
        List<AutoCloseable> made = new ArrayList<>();
        try (NDManager tmp = root.newSubManager()) {
            Encoder q = track(made, Encoders.create(cfg, root, seed));
            Encoder k = track(made, Encoders.create(cfg, root, seed));
            MomentumContrast moco;
            if (cfg.version() < 3) { // v1/v2: MocoV1V2 with its queue
                KeyQueue queue = track(made, KeyQueue.restore(root, ckpt.queue(tmp), ckpt.queuePointer()));
                moco = new MocoV1V2(q, k, queue, shuffler(cfg), cfg.moco().temperature(), cfg.moco().symmetric(), cfg.version());
            } else {
                moco = new MocoV3(q, k, track(made, Encoders.predictor(cfg, root, seed)), cfg.moco().temperature());
            }
            for (Map.Entry<String, Network> e : moco.networks().entrySet()) {
                e.getValue().loadStateDict(ckpt.tensors(e.getKey(), tmp), true);
            }
            return moco;
        } catch (RuntimeException e) {
            closeAll(made);
            throw e;
        }
    }

    static KeyShuffler shuffler(MocoConfig cfg) {
        return cfg.moco().shuffleBn() ? new SingleDeviceShuffler(cfg.train().seed()) : KeyShuffler.NONE;
    }

    private static <T extends AutoCloseable> T track(List<AutoCloseable> made, T resource) {
        made.add(resource);
        return resource;
    }

    private static void closeAll(List<AutoCloseable> made) {
        for (int i = made.size() - 1; i >= 0; i--) {
            try {
                made.get(i).close();
            } catch (Exception ignored) {
                // already failing; the first error is the one to report
            }
        }
    }
}
