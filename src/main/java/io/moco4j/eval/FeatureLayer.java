package io.moco4j.eval;

import io.moco4j.util.UserException;
import java.util.Locale;

/**
 * Which output of an encoder is used as the feature: the globally pooled backbone (before the fc /
 * projection head; what linear probing and most kNN evaluations use) or the head output (the
 * contrastive embedding; what the official CIFAR-10 demo's kNN monitor uses).
 */
public enum FeatureLayer {
    BACKBONE,
    HEAD;

    /** The lower-case name written into outputs ("backbone" or "head"). */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static FeatureLayer parse(String s) {
        for (FeatureLayer l : values()) {
            if (l.id().equalsIgnoreCase(s == null ? "" : s.trim())) {
                return l;
            }
        }
        throw new UserException("feature layer '" + s + "' is not known; use backbone or head");
    }
}
