package io.moco4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Optional;

/**
 * Shortens a learning-rate warm-up that does not fit in the run: a one-epoch try of a v3 preset (warm-up 1 of 10
 * epochs), or a time budget that leaves fewer epochs than the preset's warm-up, must just run.
 *
 * <p>The rule: when {@code optim.warmup_epochs >= train.epochs}, the warm-up becomes a tenth of the epochs, rounded
 * (moco-v3's share: 10 of 100 epochs for ResNet-50, 40 of 300 for ViT-S), and at most {@code epochs - 1} so the
 * schedule still decays; a run of one to four epochs then has no warm-up. A warm-up that fits is never changed.
 * Keeping the warm-up as long as possible ({@code epochs - 1}) was the alternative; it would leave a five-epoch try of
 * a ten-epoch warm-up at a low rate for four of its five epochs.
 */
public final class WarmupFit {
    private WarmupFit() {}

    /** The warm-up for {@code epochs} epochs when {@code warmup} does not fit, else {@code warmup} itself. */
    public static int fitted(int warmup, int epochs) {
        if (warmup < epochs || epochs < 1) {
            return warmup;
        }
        return (int) Math.min(epochs - 1L, Math.round(epochs / 10.0));
    }

    /**
     * Rewrites {@code optim.warmup_epochs} in a configuration tree (the layout of {@code defaults.yaml}) when it does
     * not fit, and returns the one line that says so; empty when nothing changed. Values of the wrong type are left
     * for the validation to report.
     */
    static Optional<String> apply(ObjectNode tree) {
        JsonNode optim = tree.get("optim");
        JsonNode train = tree.get("train");
        if (!(optim instanceof ObjectNode o) || train == null || !o.path("warmup_epochs").isInt()
                || !train.path("epochs").isInt()) {
            return Optional.empty();
        }
        int warmup = o.get("warmup_epochs").asInt();
        int epochs = train.get("epochs").asInt();
        int fitted = fitted(warmup, epochs);
        if (fitted == warmup) {
            return Optional.empty();
        }
        o.put("warmup_epochs", fitted);
        return Optional.of(String.format(Locale.ROOT, "The warm-up of %d epoch%s does not fit in %d epoch%s: shortened to %d"
                + " (a tenth of the run, rounded; optim.warmup_epochs=%d).", warmup, warmup == 1 ? "" : "s", epochs,
                epochs == 1 ? "" : "s", fitted, fitted));
    }
}
