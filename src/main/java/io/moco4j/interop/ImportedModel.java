package io.moco4j.interop;

import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.interop.MocoCheckpointLayout.Description;
import io.moco4j.interop.MocoCheckpointLayout.Head;
import io.moco4j.interop.MocoCheckpointLayout.ResNetShape;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNetSpec;
import io.moco4j.util.UserException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The MoCo4J model and configuration for weights read from a PyTorch file.
 *
 * <p>The architecture (depth, stem, width, head, embedding size, queue length) comes from the file's keys and
 * shapes. Training hyper-parameters are not in a PyTorch checkpoint (the official one stores only epoch,
 * arch, state_dict and optimizer), so they come from a preset: {@code moco-v1} for a linear head and
 * {@code moco-v2} for an MLP head, as the official v1/v2 recipes pair them; values the file does store
 * (the optimizer's momentum, weight decay and nesterov flag) override the preset, and the user's overrides
 * come last. {@link #assumed()} names the settings that were taken from the preset.
 *
 * @param spec the encoder as the file holds it (head NONE when the file has no {@code fc})
 * @param config the configuration a run continuing from these weights would use
 * @param preset the preset the training settings came from
 * @param assumed {@code key=value} settings taken from the preset, not from the file or the user
 */
public record ImportedModel(ResNetSpec spec, MocoConfig config, String preset, List<String> assumed) {

    /** The settings a continued run depends on that a PyTorch checkpoint does not record. */
    private static final List<String> NOT_IN_FILE = List.of("moco.momentum", "moco.temperature", "moco.bn_splits",
            "optim.lr", "optim.schedule", "train.epochs", "train.batch_size", "train.augment", "train.image_size");

    /**
     * Builds the spec and configuration and checks that {@code encoder} fits the spec exactly.
     *
     * @param encoder the (query) encoder's tensor shapes with torchvision key names, head included
     * @param preset a preset name, or null to choose by head (moco-v2 for MLP, moco-v1 otherwise)
     * @param fromFile settings read from the file besides the architecture (e.g. {@code optim.momentum}), may be empty
     * @param overrides the user's {@code section.key=value} settings; architecture keys among them are refused
     */
    public static ImportedModel of(Description d, Map<String, long[]> encoder, String preset, Map<String, String> fromFile,
                                   Map<String, String> overrides) {
        ResNetShape shape = d.backbone();
        if (shape.depth() != 18 && shape.depth() != 34 && shape.depth() != 50) {
            throw new UserException("the file holds a ResNet-" + shape.depth() + "; MoCo4J builds ResNet-18, -34 and -50 only");
        }
        for (String key : overrides.keySet()) {
            String k = key.replace('-', '_');
            if (k.startsWith("model.") && !k.equals("model.zero_init_residual")) {
                throw new UserException("--set " + key + " would contradict the weights; the model settings are read from the file");
            }
            if (k.equals("moco.queue_size") && d.queueSize() > 0) {
                throw new UserException("--set " + key + " would contradict the file's queue of " + d.queueSize() + " keys");
            }
        }
        String chosen = preset != null ? preset : d.head() == Head.MLP ? "moco-v2" : "moco-v1";
        ConfigLoader loader = ConfigLoader.defaults().preset(chosen);
        MocoConfig presetOnly = ConfigLoader.defaults().preset(chosen).build();

        int hidden = d.head() == Head.MLP ? (int) encoder.get("fc.0.weight")[0] : 0;
        if (hidden == shape.featureDim()) {
            hidden = 0; // "the backbone's feature width", as the official --mlp head
        }
        HeadSpec head = switch (d.head()) {
            case NONE -> HeadSpec.none();
            case LINEAR -> HeadSpec.linear(d.dim());
            case MLP -> HeadSpec.mlp(hidden, d.dim());
        };
        ResNetSpec spec = new ResNetSpec(shape.depth(), shape.cifarStem(), shape.widthMultiplier(),
                presetOnly.model().zeroInitResidual(), head, 1);
        loader.set("model.arch=resnet" + shape.depth());
        loader.set("model.cifar_stem=" + shape.cifarStem());
        loader.set("model.width=" + BigDecimal.valueOf(shape.widthMultiplier()).toPlainString());
        if (d.head() != Head.NONE) {
            loader.set("model.head=" + (d.head() == Head.MLP ? "mlp" : "linear"));
            loader.set("model.dim=" + d.dim());
            loader.set("model.head_hidden=" + hidden);
        }
        if (d.queueSize() > 0) {
            loader.set("moco.queue_size=" + d.queueSize());
        }
        fromFile.forEach((k, v) -> loader.set(k + "=" + v));
        loader.setAll(overrides);
        if (d.queueSize() > 0) {
            requireQueueFitsBatch(d.queueSize(), chosen, overrides);
        }
        MocoConfig config;
        try {
            config = loader.build();
        } catch (UserException e) {
            throw new UserException("the configuration for the imported weights is invalid: " + e.getMessage()
                    + " (adjust it with --set on import)", e);
        }
        List<String> assumed = new ArrayList<>();
        Map<String, String> values = flatten(config);
        for (String key : NOT_IN_FILE) {
            if (!fromFile.containsKey(key) && !overrides.containsKey(key)) {
                assumed.add(key + "=" + values.get(key));
            }
        }
        ImportedModel model = new ImportedModel(spec, config, chosen, assumed);
        model.checkTensors(encoder, d.kind() == MocoCheckpointLayout.Kind.OFFICIAL_MOCO || d.kind() == MocoCheckpointLayout.Kind.MOCO4J
                ? "encoder_q" : "the state dict");
        return model;
    }

    /** The queue length is fixed by the file, so the batch must divide it (the queue is overwritten a batch at a time). */
    private static void requireQueueFitsBatch(int queueSize, String preset, Map<String, String> overrides) {
        MocoConfig presetOnly = ConfigLoader.defaults().preset(preset).build();
        int batch = presetOnly.train().batchSize();
        boolean symmetric = presetOnly.moco().symmetric();
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String key = e.getKey().replace('-', '_');
            String v = e.getValue().trim();
            if (key.equals("train.batch_size") && v.matches("\\d{1,9}")) {
                batch = Integer.parseInt(v);
            } else if (key.equals("moco.symmetric")) {
                symmetric = v.equalsIgnoreCase("true");
            }
        }
        int perStep = symmetric ? 2 * batch : batch;
        if (perStep > 0 && queueSize % perStep != 0) {
            throw new UserException("the file's queue of " + queueSize + " keys is not a multiple of the " + perStep
                    + " keys enqueued per step (train.batch_size " + batch
                    + (overrides.containsKey("train.batch_size") ? "" : " from preset " + preset)
                    + "); pass --set train.batch_size=B with B dividing " + queueSize);
        }
    }

    /**
     * Checks that {@code encoder} (torchvision key names) has exactly the keys and shapes of {@link #spec()},
     * so every tensor has a place in the model and the inferred widths are torchvision's.
     *
     * @param what names the tensors in messages, e.g. "encoder_q"
     */
    public void checkTensors(Map<String, long[]> encoder, String what) {
        LinkedHashMap<String, long[]> want = spec.stateShapes();
        List<String> unexpected = new ArrayList<>();
        for (Map.Entry<String, long[]> e : encoder.entrySet()) {
            long[] w = want.get(e.getKey());
            if (w == null) {
                unexpected.add(e.getKey());
            } else if (!Arrays.equals(w, e.getValue())) {
                throw new UserException(what + " tensor " + e.getKey() + " has shape " + Arrays.toString(e.getValue())
                        + " but a torchvision-layout " + describe() + " has " + Arrays.toString(w)
                        + "; only torchvision ResNets (with a width multiplier) can be imported");
            }
        }
        List<String> missing = new ArrayList<>(want.keySet());
        missing.removeAll(encoder.keySet());
        if (!unexpected.isEmpty() || !missing.isEmpty()) {
            throw new UserException(what + " does not have the keys of a torchvision " + describe()
                    + (unexpected.isEmpty() ? "" : ": unexpected " + abbreviate(unexpected))
                    + (missing.isEmpty() ? "" : ": missing " + abbreviate(missing))
                    + "; only torchvision ResNet state dicts can be imported");
        }
    }

    /** E.g. "ResNet-18 x0.5 (CIFAR stem) with an MLP head 256-256-128". */
    public String describe() {
        StringBuilder s = new StringBuilder("ResNet-").append(spec.depth());
        if (spec.widthMultiplier() != 1.0) {
            s.append(String.format(Locale.ROOT, " x%s", BigDecimal.valueOf(spec.widthMultiplier()).stripTrailingZeros().toPlainString()));
        }
        s.append(spec.cifarStem() ? " (CIFAR stem)" : "");
        int feat = spec.featureDim();
        HeadSpec h = spec.head();
        switch (h.kind()) {
            case NONE -> s.append(" without head (").append(feat).append("-d features)");
            case LINEAR -> s.append(" with a linear head ").append(feat).append("-").append(h.outDim());
            case MLP -> s.append(" with an MLP head ").append(feat).append("-").append(h.resolvedHiddenDim(feat)).append("-").append(h.outDim());
        }
        return s.toString();
    }

    private static String abbreviate(List<String> keys) {
        return keys.size() <= 3 ? keys.toString() : keys.subList(0, 3) + " and " + (keys.size() - 3) + " more";
    }

    private static Map<String, String> flatten(MocoConfig c) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("moco.momentum", String.valueOf(c.moco().momentum()));
        m.put("moco.temperature", String.valueOf(c.moco().temperature()));
        m.put("moco.bn_splits", String.valueOf(c.moco().bnSplits()));
        m.put("optim.lr", String.valueOf(c.optim().lr()));
        m.put("optim.schedule", c.optim().schedule());
        m.put("train.epochs", String.valueOf(c.train().epochs()));
        m.put("train.batch_size", String.valueOf(c.train().batchSize()));
        m.put("train.augment", c.train().augment());
        m.put("train.image_size", String.valueOf(c.train().imageSize()));
        return m;
    }
}
