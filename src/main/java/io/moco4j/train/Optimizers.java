package io.moco4j.train;

import io.moco4j.config.MocoConfig;
import io.moco4j.optim.Lars;
import io.moco4j.optim.LarsConfig;
import io.moco4j.optim.Optimizer;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.util.UserException;

/** The optimizer {@code optim.name} asks for, with the run's momentum and weight decay. */
public final class Optimizers {
    private Optimizers() {}

    public static Optimizer from(MocoConfig cfg) {
        MocoConfig.Optim o = cfg.optim();
        return switch (o.name()) {
            case "sgd" -> new Sgd(new SgdConfig(o.momentum(), o.weightDecay(), 0, o.nesterov()));
            case "lars" -> new Lars(new LarsConfig(o.momentum(), o.weightDecay(), LarsConfig.DEFAULT_TRUST_COEFFICIENT));
            default -> throw new UserException("optim.name '" + o.name() + "' is not available; use sgd or lars");
        };
    }
}
