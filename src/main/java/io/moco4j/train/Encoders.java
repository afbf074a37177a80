package io.moco4j.train;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;

/** Builds the encoders a configuration describes. */
public final class Encoders {
    private Encoders() {}

    public static ResNetSpec spec(MocoConfig config) {
        MocoConfig.Model m = config.model();
        HeadSpec head = m.head().equals("mlp") ? HeadSpec.mlp(m.headHidden(), m.dim()) : HeadSpec.linear(m.dim());
        int depth = Integer.parseInt(m.arch().substring("resnet".length()));
        return new ResNetSpec(depth, m.cifarStem(), m.width(), m.zeroInitResidual(), head, config.moco().bnSplits());
    }

    /** A freshly initialised encoder; the seed fixes its weights on every device. */
    public static ResNet create(MocoConfig config, NDManager manager, long seed) {
        return ResNet.create(spec(config), manager, seed);
    }
}
