package io.moco4j.train;

import io.moco4j.config.MocoConfig;
import io.moco4j.optim.LrSchedule;
import io.moco4j.optim.LrScheduleConfig;

/** The learning-rate schedule a configuration asks for. */
final class Schedules {
    private Schedules() {}

    static LrSchedule from(MocoConfig cfg) {
        MocoConfig.Optim o = cfg.optim();
        return new LrScheduleConfig(o.schedule(), o.effectiveLr(cfg.train().batchSize()), cfg.train().epochs(),
                o.milestones(), o.gamma(), o.warmupEpochs(), o.perStep(), o.minLr()).build();
    }
}
