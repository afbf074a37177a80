package io.moco4j.model;

import io.moco4j.util.UserException;

/**
 * The layer(s) after global average pooling.
 *
 * <ul>
 *   <li>{@link Kind#NONE}: no {@code fc}; the network outputs the pooled backbone features.
 *   <li>{@link Kind#LINEAR}: torchvision's {@code fc = Linear(feat, outDim)}, keys {@code fc.weight}, {@code fc.bias}.
 *   <li>{@link Kind#MLP}: the official MoCo v2 {@code --mlp} head {@code Sequential(Linear(feat, hidden), ReLU,
 *       Linear(hidden, outDim))}, keys {@code fc.0.*} and {@code fc.2.*}; no BatchNorm.
 * </ul>
 *
 * @param hiddenDim MLP hidden width; 0 means "the backbone feature dimension" (MoCo v2's {@code dim_mlp =
 *     fc.in_features}); must be 0 unless the kind is MLP
 * @param outDim output width for LINEAR and MLP; 0 for NONE
 */
public record HeadSpec(Kind kind, int hiddenDim, int outDim) {

    public enum Kind { NONE, LINEAR, MLP }

    public HeadSpec {
        if (kind == null) {
            throw new UserException("head kind is missing; use none, linear or mlp");
        }
        if (kind == Kind.NONE && (outDim != 0 || hiddenDim != 0)) {
            throw new UserException("head none takes no dimensions (got hidden " + hiddenDim + ", out " + outDim
                    + "); set them to 0 or choose a linear or mlp head");
        }
        if (kind != Kind.NONE && outDim < 1) {
            throw new UserException("head " + kind.name().toLowerCase(java.util.Locale.ROOT)
                    + " needs an output dimension >= 1 (got " + outDim + ")");
        }
        if (kind == Kind.LINEAR && hiddenDim != 0) {
            throw new UserException("a linear head has no hidden layer (got hidden " + hiddenDim
                    + "); set it to 0 or use an mlp head");
        }
        if (hiddenDim < 0) {
            throw new UserException("head hidden dimension must be >= 0 (0 = backbone feature dim), got " + hiddenDim);
        }
    }

    public static HeadSpec none() {
        return new HeadSpec(Kind.NONE, 0, 0);
    }

    public static HeadSpec linear(int outDim) {
        return new HeadSpec(Kind.LINEAR, 0, outDim);
    }

    /** MoCo v2 style MLP; {@code hiddenDim} 0 means the backbone feature dimension. */
    public static HeadSpec mlp(int hiddenDim, int outDim) {
        return new HeadSpec(Kind.MLP, hiddenDim, outDim);
    }

    /** The hidden width actually used for a backbone with {@code featureDim} outputs. */
    public int resolvedHiddenDim(int featureDim) {
        return hiddenDim == 0 ? featureDim : hiddenDim;
    }

    /** Width of the network output for a backbone with {@code featureDim} outputs. */
    public int outputDim(int featureDim) {
        return kind == Kind.NONE ? featureDim : outDim;
    }
}
