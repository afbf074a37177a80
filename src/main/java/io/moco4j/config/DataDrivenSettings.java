package io.moco4j.config;

import io.moco4j.data.DataProfile;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Settings chosen from the data when the user names no preset ({@code pretrain --data DIR}): a pure function from
 * a {@link DataProfile} to overrides of the {@value #BASE} preset, each with the reason printed beside it and
 * written at the top of the run's config.yaml. Named presets are never touched; the user's own --set / --epochs /
 * --batch-size / --config values win over these choices.
 *
 * <p>The rules start from the small-data recipe that works on two cores ({@code cpu-small}: the official CIFAR-10
 * demo with a quarter-width CIFAR ResNet-18) and change only what the data decides. s is the typical short side,
 * N the number of images, B the batch, S = N / B steps per epoch.
 * <pre>
 * | setting                 | rule                                                    | why                                            |
 * |-------------------------|---------------------------------------------------------|------------------------------------------------|
 * | model.cifar_stem        | s <= 48: true; else false                               | a 7x7/2 conv + max-pool would leave a 32 px    |
 * |                         |                                                         | image 8 px wide before the first block         |
 * | train.image_size        | s <= 48: s rounded to 4 (16..48); s <= 160: 96; else 128 | no upsampling of tiny images; 96 px as STL-10   |
 * |                         |                                                         | is trained (solo-learn); 128 for photos, not   |
 * |                         |                                                         | 224 (3x the cost, lightly's small-data size)   |
 * | model.arch, model.width | resnet18; width 0.25 below 100k images, 0.5 below 1M,   | cpu-small's quarter width learns CIFAR-10 on   |
 * |                         | else 1.0                                                | 2 cores; wider nets pay off on more data       |
 * | train.augment           | colour: cifar (s <= 48) or v2; grey: cifar-grey, v2-grey | no saturation/hue/grayscale on grey images     |
 * | train.crop_min          | s < 32: 0.2; s <= 48: 0.08; else 0.2                    | a 8% crop of a 28 px image is 8 px: too little |
 * |                         |                                                         | left; 0.08 is the CIFAR demo's, 0.2 MoCo v2's  |
 * | train.batch_size        | 256 when N >= 16 x 256; else the largest power of two   | at least 16 steps per epoch, or the epoch is   |
 * |                         | <= N / 16, at least 32 (and at most N)                  | a handful of noisy updates                     |
 * | moco.bn_splits          | B / 32 (at least 1)                                     | cpu-small's 32-image Shuffle-BN groups         |
 * | optim.lr                | 0.06 x B / 256                                          | cpu-small's rate, linear scaling rule          |
 * | moco.queue_size         | 4096, lowered to QueueCoverage's longest safe queue      | images must not meet their own previous key    |
 * | train.epochs            | ceil(1000 / S) within 15..100                           | at least ~1000 updates on small sets; 15 as    |
 * |                         |                                                         | cpu-small on large ones (--time-budget plans)  |
 * | train.knn_every         | epochs / 5 (at least 1)                                 | five points on the kNN chart                   |
 * | train.online_probe      | on when the images have labels                          | solo-learn's online linear probe (needs --val) |
 * </pre>
 */
public final class DataDrivenSettings {
    /** The preset these settings start from. */
    public static final String BASE = "cpu-small";

    /** One chosen setting: the config key, its value as a YAML scalar, and why, in a few words. */
    public record Choice(String key, String value, String reason) {
        public String line() {
            return String.format(Locale.ROOT, "%-19s %-8s %s", key, value, reason);
        }
    }

    private DataDrivenSettings() {}

    /**
     * The choices for {@code profile}, in the order they are printed.
     *
     * @param safeQueue {@code (stepsPerEpoch, keysPerStep) ->} the longest queue that keeps images from meeting their
     *     own key of the previous epoch: {@code method.QueueCoverage::largestQueue} (passed in, as configuration sits
     *     below the method package)
     */
    public static List<Choice> choose(DataProfile p, java.util.function.IntBinaryOperator safeQueue) {
        List<Choice> out = new ArrayList<>();
        int s = p.typicalShortSide();
        int n = p.images();
        boolean small = s <= 48;

        int view = small ? Math.max(16, Math.min(48, 4 * Math.round(s / 4f))) : s <= 160 ? 96 : 128;
        out.add(new Choice("model.cifar_stem", Boolean.toString(small), small
                ? "images of " + s + " px: 3x3 stride-1 stem without max-pool (a 7x7/2 stem and max-pool would leave " + s / 4 + " px)"
                : "images of " + s + " px: ImageNet stem (7x7/2 conv and max-pool)"));
        out.add(new Choice("train.image_size", Integer.toString(view), small
                ? "views at the images' own size, no upsampling"
                : s <= 160 ? "96 px views (as STL-10 is trained) from " + s + " px images"
                : "128 px views from " + s + " px photos (224 would cost 3x; enough for a small data set)"));

        double width = n < 100_000 ? 0.25 : n < 1_000_000 ? 0.5 : 1.0;
        out.add(new Choice("model.arch", "resnet18", "ResNet-18, as cpu-small and the CIFAR demo"));
        out.add(new Choice("model.width", Double.toString(width), String.format(Locale.ROOT,
                "%s width for %,d images (%s)", width == 0.25 ? "quarter" : width == 0.5 ? "half" : "full", n,
                n < 100_000 ? "below 100k: cpu-small's, learns CIFAR-10 on 2 cores" : n < 1_000_000 ? "100k to 1M" : "1M or more")));

        String recipe = p.grey() ? (small ? "cifar-grey" : "v2-grey") : (small ? "cifar" : "v2");
        out.add(new Choice("train.augment", recipe, p.grey()
                ? "grey images: brightness/contrast jitter only (no saturation, hue or grayscale: nothing to act on)"
                : "colour images: " + (small ? "the CIFAR demo's crop, flip, colour jitter and grayscale"
                : "MoCo v2 aug+ (colour jitter, grayscale, blur)")));
        double cropMin = s < 32 ? 0.2 : small ? 0.08 : 0.2;
        out.add(new Choice("train.crop_min", Double.toString(cropMin), s < 32
                ? String.format(Locale.ROOT, "crops of 20-100%% (an 8%% crop of %d px would keep %d px)", s, Math.round(s * Math.sqrt(0.08)))
                : small ? "crops of 8-100%, the CIFAR demo's" : "crops of 20-100%, MoCo v2's"));

        int batch = batchSize(n);
        int steps = Math.max(1, n / batch);
        out.add(new Choice("train.batch_size", Integer.toString(batch), batch == 256
                ? String.format(Locale.ROOT, "cpu-small's 256: %d steps an epoch", steps)
                : String.format(Locale.ROOT, "%d images: %d steps an epoch instead of %d at 256", n, steps, Math.max(0, n / 256))));
        int splits = Math.max(1, batch / 32);
        out.add(new Choice("moco.bn_splits", Integer.toString(splits), "Shuffle-BN groups of " + batch / splits + " images, as cpu-small's"));
        double lr = 0.06 * batch / 256;
        out.add(new Choice("optim.lr", trim(lr), batch == 256 ? "cpu-small's rate" : "0.06 x " + batch + "/256 (linear scaling)"));

        int safe = safeQueue.applyAsInt(steps, batch);
        int queue = Math.max(batch, Math.min(4096, safe));
        out.add(new Choice("moco.queue_size", Integer.toString(queue), queue == 4096
                ? String.format(Locale.ROOT, "cpu-small's 4096 keys (%d steps of an epoch's %d)", 4096 / batch, steps)
                : String.format(Locale.ROOT, "%d steps of keys: longer would make images meet their own key of the last epoch (%d steps an epoch)",
                        queue / batch, steps)));

        int epochs = Math.max(15, Math.min(100, (1000 + steps - 1) / steps));
        out.add(new Choice("train.epochs", Integer.toString(epochs), epochs == 15
                ? "cpu-small's 15 (" + 15 * steps + " steps)"
                : epochs == 100 ? "100 (the most chosen; " + 100 * steps + " steps)"
                : String.format(Locale.ROOT, "about 1000 steps (%d) at %d an epoch", epochs * steps, steps)));
        out.add(new Choice("train.knn_every", Integer.toString(Math.max(1, epochs / 5)), "five kNN points over the run (with --val)"));
        out.add(new Choice("train.online_probe", Boolean.toString(p.labeled()), p.labeled()
                ? p.classes() + " classes: online linear probe on (with --val)"
                : "unlabeled: no probe and no kNN monitor"));
        return out;
    }

    /** The choices as {@code key -> value} overrides, leaving out keys the user set. */
    public static Map<String, String> overrides(List<Choice> choices, java.util.Set<String> userKeys) {
        Map<String, String> m = new LinkedHashMap<>();
        for (Choice c : choices) {
            if (!userKeys.contains(c.key())) {
                m.put(c.key(), c.value());
            }
        }
        return m;
    }

    /** The lines printed and written at the top of config.yaml; keys the user set are marked as theirs. */
    public static List<String> lines(DataProfile profile, List<Choice> choices, java.util.Set<String> userKeys) {
        List<String> lines = new ArrayList<>();
        lines.add("Settings chosen from the data (" + profile.describe() + "; no --preset, so " + BASE + " adapted):");
        for (Choice c : choices) {
            lines.add("  " + (userKeys.contains(c.key()) ? String.format(Locale.ROOT, "%-19s %-8s yours", c.key(), "") : c.line()));
        }
        return lines;
    }

    /** 256 when there are at least 16 batches of 256; else the largest power of two giving 16 steps, 32..N. */
    static int batchSize(int images) {
        if (images >= 16 * 256) {
            return 256;
        }
        int b = Integer.highestOneBit(Math.max(1, images / 16));
        b = Math.max(32, b);
        while (b > images && b > 1) {
            b /= 2;
        }
        return b;
    }

    private static String trim(double v) {
        String s = String.format(Locale.ROOT, "%.6f", v).replaceAll("0+$", "");
        return s.endsWith(".") ? s + "0" : s;
    }
}
