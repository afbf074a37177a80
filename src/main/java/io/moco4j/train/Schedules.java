package io.moco4j.train;

import io.moco4j.config.MocoConfig;
import io.moco4j.method.MomentumSchedule;
import io.moco4j.optim.LrSchedule;
import io.moco4j.optim.LrScheduleConfig;

/** The learning-rate and momentum schedules a configuration asks for. */
public final class Schedules {
    private Schedules() {}

    /** The key-encoder momentum per step: constant, or moco-v3's half-cosine from {@code m0} to 1. */
    public static MomentumSchedule momentum(MocoConfig cfg) {
        return cfg.moco().momentumCosine() ? MomentumSchedule.cosine(cfg.moco().momentum(), cfg.train().epochs())
                : MomentumSchedule.constant(cfg.moco().momentum());
    }

    public static LrSchedule from(MocoConfig cfg) {
        MocoConfig.Optim o = cfg.optim();
        return new LrScheduleConfig(o.schedule(), o.effectiveLr(cfg.train().batchSize()), cfg.train().epochs(),
                o.milestones(), o.gamma(), o.warmupEpochs(), o.perStep(), o.minLr()).build();
    }
}
