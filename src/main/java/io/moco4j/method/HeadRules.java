package io.moco4j.method;

import io.moco4j.config.MocoConfig;

/**
 * How moco-v3 builds the MLPs around each backbone family, said once ({@code _build_projector_and_predictor_mlps} in
 * moco-v3's {@code builder.py}): MoCo_ResNet replaces {@code base_encoder.fc} with a 2-layer projector and builds the
 * predictor with {@code last_bn=False}; MoCo_ViT replaces {@code base_encoder.head} with a 3-layer projector and keeps
 * the predictor's last BN. Every projector ends with a BatchNorm ({@code last_bn=True}), every predictor has 2 layers.
 * {@link Encoders} builds by these rules; interop's moco-v3 import checks files against them; the v3 presets' {@code
 * model.head_layers} equal {@link #projectorLayers} (a test checks it; a run may still set another depth).
 */
public enum HeadRules {
    RESNET("fc.", 2, false),
    VIT("head.", 3, true);

    /** Layers of every predictor: {@code _build_mlp(2, dim, mlp_dim, dim, ...)}. */
    public static final int PREDICTOR_LAYERS = 2;
    /** Every projector ends with a BatchNorm without affine parameters. */
    public static final boolean PROJECTOR_LAST_BN = true;

    private final String headPrefix;
    private final int projectorLayers;
    private final boolean predictorLastBn;

    HeadRules(String headPrefix, int projectorLayers, boolean predictorLastBn) {
        this.headPrefix = headPrefix;
        this.projectorLayers = projectorLayers;
        this.predictorLastBn = predictorLastBn;
    }

    /** The rules of the configured backbone ({@code model.arch} vit_* or resnet*). */
    public static HeadRules of(MocoConfig config) {
        return ofArch(config.model().arch());
    }

    public static HeadRules ofArch(String arch) {
        return arch.startsWith("vit") ? VIT : RESNET;
    }

    /** Where the backbone's head (v1/v2 fc, v3 projector) sits in its state dict: {@code fc.} or {@code head.}. */
    public String headPrefix() {
        return headPrefix;
    }

    /** The projector's layers in moco-v3 (the presets' {@code model.head_layers}). */
    public int projectorLayers() {
        return projectorLayers;
    }

    /** Whether the predictor ends with a BatchNorm. */
    public boolean predictorLastBn() {
        return predictorLastBn;
    }
}
