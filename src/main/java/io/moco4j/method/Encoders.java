package io.moco4j.method;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.model.Encoder;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Mlp;
import io.moco4j.model.MlpSpec;
import io.moco4j.model.ProjectedEncoder;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.model.VisionTransformer;
import io.moco4j.model.VitSpec;
import io.moco4j.util.UserException;

/** Builds the encoders (and the v3 predictor) a configuration describes; v3's MLPs by {@link HeadRules}. */
public final class Encoders {
    private Encoders() {}

    /** The ResNet of a v1/v2 configuration, head included; for the v3 projector head the bare backbone. */
    public static ResNetSpec spec(MocoConfig config) {
        MocoConfig.Model m = config.model();
        HeadSpec head = switch (m.head()) {
            case "mlp" -> HeadSpec.mlp(m.headHidden(), m.dim());
            case "projector" -> HeadSpec.none();
            default -> HeadSpec.linear(m.dim());
        };
        if (!m.arch().startsWith("resnet")) {
            throw new UserException("model.arch '" + m.arch() + "' is not a ResNet; choose resnet18, resnet34 or resnet50"
                    + " (ViTs are built by Encoders.create)");
        }
        int depth = Integer.parseInt(m.arch().substring("resnet".length()));
        return new ResNetSpec(depth, m.cifarStem(), m.width(), m.zeroInitResidual(), head, config.moco().bnSplits());
    }

    /** A freshly initialised encoder (backbone + head); the seed fixes its weights on every device. */
    public static Encoder create(MocoConfig config, NDManager manager, long seed) {
        if (isVit(config)) {
            return withProjector(VisionTransformer.create(vitSpec(config), manager, seed), config, manager, seed);
        }
        ResNet backbone = ResNet.create(spec(config), manager, seed);
        if (!config.model().head().equals("projector")) {
            return backbone;
        }
        return withProjector(backbone, config, manager, seed);
    }

    /** The backbone without any head (what kNN, the linear probe and torchvision exports use). */
    public static Encoder backbone(MocoConfig config, NDManager manager, long seed) {
        if (isVit(config)) {
            return VisionTransformer.create(vitSpec(config), manager, seed);
        }
        return ResNet.create(spec(config).withHead(HeadSpec.none()), manager, seed);
    }

    public static boolean isVit(MocoConfig config) {
        return config.model().arch().startsWith("vit");
    }

    /** The named ViT size at the configured image size (and patch, when model.patch_size is set). */
    public static VitSpec vitSpec(MocoConfig config) {
        MocoConfig.Model m = config.model();
        VitSpec named = VitSpec.named(m.arch(), m.stopGradConv1());
        int patch = m.patchSize() > 0 ? m.patchSize() : named.patchSize();
        return new VitSpec(config.train().imageSize(), patch, m.vitWidth() > 0 ? m.vitWidth() : named.width(),
                m.vitDepth() > 0 ? m.vitDepth() : named.depth(), m.vitHeads() > 0 ? m.vitHeads() : named.heads(),
                named.mlpRatio(), m.stopGradConv1());
    }

    /**
     * Where the head sits: {@code fc.} in a ResNet (v1/v2 head, v3 projector), {@code head.} in a ViT, as the official
     * MoCo v3 attaches the projector ({@link HeadRules}).
     */
    public static String headPrefix(MocoConfig config) {
        return HeadRules.of(config).headPrefix();
    }

    /** moco-v3's projector: {@code build_mlp(layers, feature_dim, mlp_dim, dim, last_bn=True)}. */
    static MlpSpec projectorSpec(MocoConfig config, int featureDim) {
        MocoConfig.Model m = config.model();
        int hidden = m.headHidden() == 0 ? featureDim : m.headHidden();
        return new MlpSpec(featureDim, hidden, m.dim(), m.headLayers(), HeadRules.PROJECTOR_LAST_BN);
    }

    /** moco-v3's predictor: {@code build_mlp(2, dim, mlp_dim, dim, last_bn)}, last_bn by {@link HeadRules}. */
    static MlpSpec predictorSpec(MocoConfig config) {
        MocoConfig.Model m = config.model();
        return new MlpSpec(m.dim(), m.predictorHidden(), m.dim(), HeadRules.PREDICTOR_LAYERS, HeadRules.of(config).predictorLastBn());
    }

    static Encoder withProjector(Encoder backbone, MocoConfig config, NDManager manager, long seed) {
        try {
            MlpSpec spec = projectorSpec(config, backbone.featureDim());
            // Seeds differ per part so a projector never draws the same numbers as the predictor.
            Mlp projector = Mlp.create(spec, manager, seed + 101);
            return new ProjectedEncoder(backbone, headPrefix(config), projector, spec.outDim());
        } catch (RuntimeException e) {
            backbone.close();
            throw e;
        }
    }

    /** The v3 predictor, or null when the configuration has none. */
    public static Mlp predictor(MocoConfig config, NDManager manager, long seed) {
        return config.model().predictorHidden() == 0 ? null : Mlp.create(predictorSpec(config), manager, seed + 202);
    }
}
