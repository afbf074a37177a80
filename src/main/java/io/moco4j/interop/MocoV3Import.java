package io.moco4j.interop;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.interop.MocoCheckpointLayout.ResNetShape;
import io.moco4j.io.HostTensor;
import io.moco4j.method.Encoders;
import io.moco4j.method.HeadRules;
import io.moco4j.method.MocoV3;
import io.moco4j.model.Network;
import io.moco4j.model.VitSpec;
import io.moco4j.optim.LossScaler;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.TrainingProgress;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Imports a facebookresearch/moco-v3 {@code main_moco.py} checkpoint: {@code state_dict} with
 * {@code module.base_encoder.*} (a ResNet with its projector as {@code fc.*}, or a ViT with it as {@code head.*}),
 * {@code module.momentum_encoder.*}, {@code module.predictor.*}, the optimizer state by position over
 * {@code model.parameters()} (base encoder, momentum encoder (never stepped), predictor: LARS's {@code mu}, AdamW's
 * {@code exp_avg}, {@code exp_avg_sq}, {@code step}), {@code epoch} and the AMP {@code scaler}. With both
 * encoders and the predictor it becomes a resumable MoCo4J run; with the base encoder only, an encoder checkpoint.
 *
 * <p>Tensors go from the file's host buffers straight into the checkpoint ({@link Checkpoints#writeHost}), so a
 * 400 MB checkpoint is not held twice in memory.
 */
public final class MocoV3Import {
    private static final Pattern LINEAR = Pattern.compile("^(\\d+)\\.weight$");
    private static final Pattern BLOCK = Pattern.compile("^blocks\\.(\\d+)\\.");
    private static final ObjectMapper JSON = new ObjectMapper();

    private MocoV3Import() {}

    /** The key prefix of a moco-v3 state dict ({@code module.} under DDP, none otherwise), or null if it is not one. */
    public static String prefix(Map<String, ?> sd) {
        for (String p : List.of("module.", "")) {
            String base = p + "base_encoder.";
            if (sd.keySet().stream().anyMatch(k -> k.startsWith(base))) {
                return p;
            }
        }
        return null;
    }

    /** One MLP of moco-v3's {@code _build_mlp}: layers, hidden and output width, and whether the last BN is there. */
    record MlpShape(int inDim, int layers, int hidden, int outDim, boolean lastBn) {
        static MlpShape of(Map<String, HostTensor> mlp, String what) {
            TreeMap<Integer, long[]> linears = new TreeMap<>();
            mlp.forEach((k, t) -> {
                Matcher m = LINEAR.matcher(k);
                if (m.matches() && t.rank() == 2) {
                    linears.put(Integer.parseInt(m.group(1)), t.shape());
                }
            });
            if (linears.isEmpty()) {
                throw new UserException("the " + what + " has no Linear layers (no 2-d <n>.weight); the file is not a moco-v3 checkpoint");
            }
            long[] first = linears.firstEntry().getValue();
            long[] last = linears.lastEntry().getValue();
            boolean lastBn = mlp.containsKey((linears.lastKey() + 1) + ".running_mean");
            return new MlpShape((int) first[1], linears.size(), linears.size() > 1 ? (int) first[0] : 0, (int) last[0], lastBn);
        }
    }

    static CheckpointImport.Result run(CheckpointImport.Request request, Path target, Object tree,
                                       LinkedHashMap<String, HostTensor> sd, String prefix) {
        Map<String, Object> top = tree instanceof Map<?, ?> m && m != sd ? cast(m) : Map.of();
        LinkedHashMap<String, HostTensor> base = under(sd, prefix + "base_encoder.");
        LinkedHashMap<String, HostTensor> momentum = under(sd, prefix + "momentum_encoder.");
        LinkedHashMap<String, HostTensor> predictor = under(sd, prefix + "predictor.");
        boolean vit = base.containsKey("cls_token");
        if (!vit && !base.containsKey("conv1.weight")) {
            throw new UserException("the moco-v3 checkpoint's base encoder is neither a ResNet (conv1.weight) nor a ViT"
                    + " (cls_token); the file is not a layout MoCo4J knows");
        }
        HeadRules rules = vit ? HeadRules.VIT : HeadRules.RESNET;
        String headPrefix = rules.headPrefix();
        LinkedHashMap<String, HostTensor> backbone = new LinkedHashMap<>(base);
        backbone.keySet().removeIf(k -> k.startsWith(headPrefix));
        Map<String, String> arch = vit ? vitSettings(backbone, top.get("arch"), request.overrides())
                : resnetSettings(backbone);
        int featureDim = Integer.parseInt(arch.remove("feature_dim"));
        String described = arch.remove("described");
        MlpShape projector = MlpShape.of(under(base, headPrefix), "projector (base_encoder." + headPrefix + ")");
        if (projector.lastBn() != HeadRules.PROJECTOR_LAST_BN) {
            throw new UserException("the projector has no BatchNorm after its last layer; moco-v3's projectors have one"
                    + " (last_bn=True), so this is not a layout MoCo4J knows");
        }
        MlpShape pred = predictor.isEmpty() ? null : MlpShape.of(predictor, "predictor");
        if (pred != null && (pred.layers() != HeadRules.PREDICTOR_LAYERS || pred.lastBn() != rules.predictorLastBn())) {
            throw new UserException("the predictor has " + pred.layers() + " layers" + (pred.lastBn() ? " and a last BN" : " and no last BN")
                    + "; moco-v3's predictor has 2 layers, with a last BN for a ViT (MoCo_ViT) and without for a ResNet");
        }
        for (String key : request.overrides().keySet()) {
            String k = key.replace('-', '_');
            if (k.startsWith("model.") && !OVERRIDABLE.contains(k)) {
                throw new UserException("--set " + key + " would contradict the weights; the model settings are read from the file");
            }
        }

        String preset = request.preset() != null ? request.preset()
                : vit ? "moco-v3-vit-s" : arch.get("model.cifar_stem").equals("true") ? "cifar10-v3" : "moco-v3-r50";
        ConfigLoader loader = ConfigLoader.defaults().preset(preset);
        arch.forEach((k, v) -> loader.set(k + "=" + v));
        loader.set("model.head=projector").set("model.head_layers=" + projector.layers())
                .set("model.head_hidden=" + (projector.hidden() == featureDim ? 0 : projector.hidden()))
                .set("model.dim=" + projector.outDim());
        if (pred != null) {
            loader.set("model.predictor_hidden=" + pred.hidden());
        }
        Object optimizer = top.get("optimizer");
        Map<String, Object> settings = TorchOptimizerState.settings(optimizer);
        String kindInFile = optimizerKind(optimizer);
        if (kindInFile != null && !request.overrides().containsKey("optim.name")) {
            loader.set("optim.name=" + kindInFile);
        }
        List<String> fromFile = new ArrayList<>();
        for (String[] kv : new String[][] {{"momentum", "optim.momentum"}, {"weight_decay", "optim.weight_decay"}}) {
            if (settings.get(kv[0]) instanceof Number n && !request.overrides().containsKey(kv[1])) {
                String v = BigDecimal.valueOf(n.doubleValue()).stripTrailingZeros().toPlainString();
                loader.set(kv[1] + "=" + v);
                fromFile.add(kv[1] + "=" + v);
            }
        }
        loader.setAll(request.overrides());
        MocoConfig cfg;
        try {
            cfg = loader.build();
        } catch (UserException e) {
            throw new UserException("the configuration for the imported weights is invalid: " + e.getMessage()
                    + " (adjust it with --set on import)", e);
        }
        List<String> notes = new ArrayList<>();
        boolean full = !momentum.isEmpty() && pred != null;
        checkAgainstModel(cfg, base, momentum, predictor, full);

        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        base.forEach((k, t) -> tensors.put(Checkpoints.Q + k, t));
        String optimizerLine = null;
        if (full) {
            momentum.forEach((k, t) -> tensors.put(Checkpoints.K + k, t));
            predictor.forEach((k, t) -> tensors.put(Checkpoints.PREDICTOR + k, t));
            List<String> positions = new ArrayList<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            parameterNames(base).forEach(n -> {
                positions.add(n);
                shapes.put(n, base.get(n).shape());
            });
            parameterNames(momentum).forEach(n -> positions.add(null)); // EMA copies: never stepped
            parameterNames(predictor).forEach(n -> {
                positions.add(MocoV3.PREDICTOR + n);
                shapes.put(MocoV3.PREDICTOR + n, predictor.get(n).shape());
            });
            String name = cfg.optim().name();
            TorchOptimizerState.Slots slots = name.equals("adamw") ? TorchOptimizerState.Slots.ADAMW : TorchOptimizerState.Slots.LARS;
            TorchOptimizerState.Mapping mapping = TorchOptimizerState.read(optimizer, positions, shapes, slots);
            mapping.state().forEach((k, t) -> tensors.put(Checkpoints.OPTIMIZER + k, t));
            String problem = mapping.problem();
            long mapped = positions.stream().filter(n -> n != null && mapping.state().containsKey(slots.presenceSuffix(n))).count();
            optimizerLine = problem == null
                    ? "Optimizer: " + name + " state of " + mapped + " parameters mapped"
                            + (fromFile.isEmpty() ? "" : "; from the file: " + String.join(", ", fromFile))
                    : "Optimizer: not imported (" + problem + "); " + name + " state restarts from zero";
        } else {
            notes.add("no momentum encoder or predictor in the file: imported as an encoder only");
        }
        Map<String, Object> scalerState = scalerState(top.get("scaler"));
        if (scalerState != null) {
            notes.add(String.format(Locale.ROOT, "the AMP GradScaler state (scale %s, %s of %s clean steps) is kept for a"
                            + " resume with --precision fp16; bf16 and fp32 do not scale the loss",
                    BigDecimal.valueOf((double) scalerState.get("scale")).stripTrailingZeros().toPlainString(),
                    scalerState.get("_growth_tracker"), scalerState.get("growth_interval")));
        }
        if (settings.get("lr") instanceof Number lr) {
            notes.add("the file's last lr " + lr + " is after its schedule; the base lr is optim.lr=" + cfg.optim().lr());
        }
        int epoch = top.get("epoch") instanceof Long e ? Math.toIntExact(e) : 0;
        if (!(top.get("epoch") instanceof Long)) {
            notes.add("no epoch in the file: counting from epoch 0");
        }
        Checkpoints.Kind kind = full ? Checkpoints.Kind.PRETRAINING : Checkpoints.Kind.ENCODER;
        ObjectNode origin = JSON.createObjectNode();
        origin.put("imported_from", request.from().toAbsolutePath().normalize().toString());
        origin.put("layout", "official_moco_v3");
        origin.put("preset", preset);
        try {
            Path parent = target.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Checkpoints.writeHost(target, cfg, kind, tensors, new TrainingProgress(epoch, 0, 0, 0), 0, 0, origin,
                    kind == Checkpoints.Kind.PRETRAINING ? scalerState : null);
        } catch (IOException e) {
            throw new UserException("cannot write " + target + " (" + e.getMessage() + "); choose a writable --out", e);
        }

        List<String> lines = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "Read %s: official MoCo v3 checkpoint (main_moco.py layout)%s%s", request.from(),
                top.get("arch") instanceof String a ? ", arch " + a : "", top.containsKey("epoch") ? ", epoch " + epoch : ""));
        lines.add(String.format(Locale.ROOT, "Model: MoCo v3, %s, projector %d-%d-%d (%d layers), %s", described,
                featureDim, projector.hidden(), projector.outDim(), projector.layers(),
                pred == null ? "no predictor" : "predictor " + pred.outDim() + "-" + pred.hidden() + "-" + pred.outDim()));
        if (optimizerLine != null) {
            lines.add(optimizerLine);
        }
        lines.add("Assumed from preset " + preset + " (PyTorch checkpoints do not store them): moco.temperature="
                + cfg.moco().temperature() + ", moco.momentum=" + cfg.moco().momentum() + ", optim.lr=" + cfg.optim().lr()
                + ", train.epochs=" + cfg.train().epochs() + ", train.batch_size=" + cfg.train().batchSize());
        notes.forEach(n -> lines.add("Note: " + n));
        Path runDir = target.equals(request.out()) ? null : request.out();
        lines.add(String.format(Locale.ROOT, "Wrote %s: MoCo4J %s, epoch %d", target,
                full ? "MoCo v3 pretraining checkpoint (encoder_q, encoder_k, predictor, optimizer)" : "encoder-only checkpoint", epoch));
        lines.add(full ? (runDir != null ? "Continue pretraining: ./moco4j pretrain --out " + runDir + " --resume --epochs N   (N > " + epoch + ")"
                        : "To continue pretraining, place it as runs/NAME/checkpoints/last.ckpt and run ./moco4j pretrain --out runs/NAME --resume")
                : "Use it with knn, lincls or embed; pretraining cannot resume from an encoder-only checkpoint");
        return new CheckpointImport.Result(target, runDir, kind, null, null, lines);
    }

    /** Every tensor must fit the model the configuration builds, so a bad file fails here and not at resume. */
    private static void checkAgainstModel(MocoConfig cfg, Map<String, HostTensor> base, Map<String, HostTensor> momentum,
                                          Map<String, HostTensor> predictor, boolean full) {
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             Network q = Encoders.create(cfg, m, 0)) {
            requireSameShapes("base_encoder", q.stateDict(), base);
            if (full) {
                requireSameShapes("momentum_encoder", q.stateDict(), momentum);
                try (Network p = Encoders.predictor(cfg, m, 0)) {
                    requireSameShapes("predictor", p.stateDict(), predictor);
                }
            }
        }
    }

    private static void requireSameShapes(String what, Map<String, NDArray> model, Map<String, HostTensor> file) {
        if (!model.keySet().equals(file.keySet())) {
            List<String> missing = new ArrayList<>(model.keySet());
            missing.removeAll(file.keySet());
            List<String> extra = new ArrayList<>(file.keySet());
            extra.removeAll(model.keySet());
            throw new UserException("the file's " + what + " does not match a moco-v3 model: missing " + first(missing)
                    + ", unexpected " + first(extra) + "; the file is damaged or of another layout");
        }
        for (Map.Entry<String, NDArray> e : model.entrySet()) {
            long[] want = e.getValue().getShape().getShape();
            long[] have = file.get(e.getKey()).shape();
            if (!Arrays.equals(want, have)) {
                throw new UserException("the file's " + what + "." + e.getKey() + " has shape " + Arrays.toString(have)
                        + " but the model built from its other tensors needs " + Arrays.toString(want) + "; the file is inconsistent");
            }
        }
    }

    /**
     * main_moco.py's {@code scaler} entry ({@code GradScaler.state_dict()}) checked and in {@link LossScaler}'s form, or
     * null when the file has none or an empty one (a disabled GradScaler's, e.g. saved on a CPU).
     */
    static Map<String, Object> scalerState(Object entry) {
        if (!(entry instanceof Map<?, ?> m) || m.isEmpty()) {
            return null;
        }
        Map<String, Object> state = new LinkedHashMap<>();
        m.forEach((k, v) -> state.put(String.valueOf(k), v));
        LossScaler scaler = new LossScaler();
        try {
            scaler.loadStateDict(state);
        } catch (UserException e) {
            throw new UserException("the file's 'scaler' entry is not a GradScaler state (" + e.getMessage() + ")", e);
        }
        return scaler.stateDict();
    }

    /** Model settings a user may still give on import (the file cannot tell them). */
    private static final java.util.Set<String> OVERRIDABLE = java.util.Set.of("model.zero_init_residual", "model.vit_heads",
            "model.stop_grad_conv1");

    /** "adamw" or "lars" by the state the file's optimizer holds, or null when it holds none. */
    private static String optimizerKind(Object optimizer) {
        if (optimizer instanceof Map<?, ?> sd && sd.get("state") instanceof Map<?, ?> state) {
            for (Object s : state.values()) {
                if (s instanceof Map<?, ?> m) {
                    return m.containsKey("exp_avg") ? "adamw" : m.containsKey("mu") ? "lars" : null;
                }
            }
        }
        return null;
    }

    /**
     * model.* settings of a ResNet backbone, read from its keys and shapes, plus {@code feature_dim} and a {@code described}
     * text (also used by {@code pretrain --init-from}).
     */
    public static Map<String, String> resnetSettings(Map<String, HostTensor> backbone) {
        ResNetShape shape = MocoCheckpointLayout.inferResNet(MocoCheckpointLayout.shapes(backbone));
        if (shape.depth() != 18 && shape.depth() != 34 && shape.depth() != 50) {
            throw new UserException("the file holds a ResNet-" + shape.depth() + "; MoCo4J builds ResNet-18, -34 and -50 only");
        }
        Map<String, String> out = new LinkedHashMap<>();
        out.put("model.arch", "resnet" + shape.depth());
        out.put("model.cifar_stem", Boolean.toString(shape.cifarStem()));
        out.put("model.width", BigDecimal.valueOf(shape.widthMultiplier()).toPlainString());
        out.put("feature_dim", Integer.toString(shape.featureDim()));
        out.put("described", "ResNet-" + shape.depth() + (shape.widthMultiplier() != 1
                ? " x" + BigDecimal.valueOf(shape.widthMultiplier()).toPlainString() : "") + (shape.cifarStem() ? " (CIFAR stem)" : ""));
        return out;
    }

    /**
     * model.* and train.image_size settings of a ViT backbone: width, depth and patch from the shapes, the image size
     * from the position embedding's grid; the head count is not in the weights, so it comes from the file's arch
     * (vit_small, vit_base, ...) or the user's --set model.vit_heads.
     */
    public static Map<String, String> vitSettings(Map<String, HostTensor> backbone, Object archInFile, Map<String, String> overrides) {
        long[] cls = backbone.get("cls_token").shape();
        long[] patchConv = backbone.containsKey("patch_embed.proj.weight") ? backbone.get("patch_embed.proj.weight").shape() : null;
        long[] pos = backbone.containsKey("pos_embed") ? backbone.get("pos_embed").shape() : null;
        if (cls.length != 3 || patchConv == null || patchConv.length != 4 || pos == null || pos.length != 3) {
            throw new UserException("the ViT base encoder lacks a 3-d cls_token, a 4-d patch_embed.proj.weight or a 3-d pos_embed;"
                    + " the file is not a moco-v3 ViT checkpoint");
        }
        int width = (int) cls[2];
        int patch = (int) patchConv[3];
        int grid = (int) Math.round(Math.sqrt(pos[1] - 1));
        if ((long) grid * grid != pos[1] - 1) {
            throw new UserException("the ViT position embedding has " + pos[1] + " tokens, not a cls token plus a square grid;"
                    + " MoCo4J imports square-image ViTs");
        }
        int depth = 0;
        for (String k : backbone.keySet()) {
            Matcher m = BLOCK.matcher(k);
            if (m.find()) {
                depth = Math.max(depth, Integer.parseInt(m.group(1)) + 1);
            }
        }
        String named = archInFile instanceof String a ? a : "";
        int heads;
        if (overrides.containsKey("model.vit_heads")) {
            heads = Integer.parseInt(overrides.get("model.vit_heads").trim());
        } else {
            try {
                VitSpec spec = VitSpec.named(named, false);
                if (spec.width() != width) {
                    throw new UserException("the file's arch '" + named + "' has width " + spec.width() + " but its weights " + width
                            + "; pass --set model.vit_heads=H with the model's head count");
                }
                heads = spec.heads();
            } catch (UserException e) {
                if (e.getMessage().startsWith("the file's arch")) {
                    throw e;
                }
                throw new UserException("the ViT's number of attention heads is not in the weights and the file's arch '" + named
                        + "' is not a known size (vit_small, vit_base, vit_tiny, vit_cifar_tiny); pass --set model.vit_heads=H");
            }
        }
        Map<String, String> out = new LinkedHashMap<>();
        out.put("model.arch", "vit_tiny");
        try {
            VitSpec.named(named, false);
            out.put("model.arch", named);
        } catch (UserException notNamed) {
            // a custom ViT: vit_tiny with every size given explicitly below
        }
        out.put("model.patch_size", Integer.toString(patch));
        out.put("model.vit_width", Integer.toString(width));
        out.put("model.vit_depth", Integer.toString(depth));
        out.put("model.vit_heads", Integer.toString(heads));
        out.put("train.image_size", Integer.toString(grid * patch));
        out.put("feature_dim", Integer.toString(width));
        out.put("described", String.format(Locale.ROOT, "ViT (D %d, depth %d, %d heads, patch %d, %d px)", width, depth, heads,
                patch, grid * patch));
        return out;
    }

    /** Parameters in {@code parameters()} order: the state dict's keys without BatchNorm buffers. */
    private static List<String> parameterNames(Map<String, HostTensor> sd) {
        List<String> out = new ArrayList<>();
        for (String k : sd.keySet()) {
            if (!k.endsWith(".running_mean") && !k.endsWith(".running_var") && !k.endsWith(".num_batches_tracked")) {
                out.add(k);
            }
        }
        return out;
    }

    private static LinkedHashMap<String, HostTensor> under(Map<String, HostTensor> sd, String prefix) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        sd.forEach((k, t) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), t);
            }
        });
        return out;
    }

    private static String first(List<String> keys) {
        return keys.size() <= 3 ? keys.toString() : keys.subList(0, 3) + " and " + (keys.size() - 3) + " more";
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(Map<?, ?> m) {
        return (Map<String, Object>) m;
    }
}
