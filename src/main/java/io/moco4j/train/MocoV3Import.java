package io.moco4j.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.MocoCheckpointLayout;
import io.moco4j.io.MocoCheckpointLayout.ResNetShape;
import io.moco4j.io.TorchOptimizerState;
import io.moco4j.model.Network;
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
 * {@code module.base_encoder.*} (backbone + projector as {@code fc.*}), {@code module.momentum_encoder.*},
 * {@code module.predictor.*}, the LARS state ({@code state[i]['mu']} by position over {@code model.parameters()}:
 * base encoder, momentum encoder (never stepped), predictor), {@code epoch} and the AMP {@code scaler}. With both
 * encoders and the predictor it becomes a resumable MoCo4J run; with the base encoder only, an encoder checkpoint.
 *
 * <p>Tensors go from the file's host buffers straight into the checkpoint ({@link Checkpoints#writeHost}), so a
 * 400 MB checkpoint is not held twice in memory.
 */
final class MocoV3Import {
    private static final Pattern LINEAR = Pattern.compile("^(\\d+)\\.weight$");
    private static final ObjectMapper JSON = new ObjectMapper();

    private MocoV3Import() {}

    /** The key prefix of a moco-v3 state dict ({@code module.} under DDP, none otherwise), or null if it is not one. */
    static String prefix(Map<String, ?> sd) {
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
        if (!base.containsKey("conv1.weight")) {
            throw new UserException("the moco-v3 checkpoint's base encoder is not a ResNet (no conv1.weight; a ViT?);"
                    + " this MoCo4J imports moco-v3 ResNet checkpoints");
        }
        LinkedHashMap<String, HostTensor> backbone = new LinkedHashMap<>(base);
        backbone.keySet().removeIf(MocoCheckpointLayout::isHeadKey);
        ResNetShape shape = MocoCheckpointLayout.inferResNet(MocoCheckpointLayout.shapes(backbone));
        if (shape.depth() != 18 && shape.depth() != 34 && shape.depth() != 50) {
            throw new UserException("the file holds a ResNet-" + shape.depth() + "; MoCo4J builds ResNet-18, -34 and -50 only");
        }
        MlpShape projector = MlpShape.of(under(base, "fc."), "projector (base_encoder.fc)");
        if (!projector.lastBn()) {
            throw new UserException("the projector has no BatchNorm after its last layer; moco-v3's ResNet projector has one"
                    + " (last_bn=True), so this is not a layout MoCo4J knows");
        }
        MlpShape pred = predictor.isEmpty() ? null : MlpShape.of(predictor, "predictor");
        if (pred != null && (pred.layers() != 2 || pred.lastBn())) {
            throw new UserException("the predictor has " + pred.layers() + " layers" + (pred.lastBn() ? " and a last BN" : "")
                    + "; moco-v3's predictor has 2 layers and no last BN");
        }
        for (String key : request.overrides().keySet()) {
            if (key.replace('-', '_').startsWith("model.") && !key.replace('-', '_').equals("model.zero_init_residual")) {
                throw new UserException("--set " + key + " would contradict the weights; the model settings are read from the file");
            }
        }

        String preset = request.preset() != null ? request.preset() : shape.cifarStem() ? "cifar10-v3" : "moco-v3-r50";
        ConfigLoader loader = ConfigLoader.defaults().preset(preset);
        loader.set("model.arch=resnet" + shape.depth()).set("model.cifar_stem=" + shape.cifarStem())
                .set("model.width=" + BigDecimal.valueOf(shape.widthMultiplier()).toPlainString())
                .set("model.head=projector").set("model.head_layers=" + projector.layers())
                .set("model.head_hidden=" + (projector.hidden() == shape.featureDim() ? 0 : projector.hidden()))
                .set("model.dim=" + projector.outDim());
        if (pred != null) {
            loader.set("model.predictor_hidden=" + pred.hidden());
        }
        Object optimizer = top.get("optimizer");
        Map<String, Object> settings = TorchOptimizerState.settings(optimizer);
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
            Object problem = larsBuffers(optimizer, positions, shapes, tensors);
            optimizerLine = problem == null
                    ? "Optimizer: LARS momentum of " + tensors.keySet().stream().filter(k -> k.startsWith(Checkpoints.OPTIMIZER)).count()
                            + " parameters mapped" + (fromFile.isEmpty() ? "" : "; from the file: " + String.join(", ", fromFile))
                    : "Optimizer: not imported (" + problem + "); LARS momentum restarts from zero";
        } else {
            notes.add("no momentum encoder or predictor in the file: imported as an encoder only");
        }
        if (top.get("scaler") instanceof Map<?, ?> scaler && !scaler.isEmpty()) {
            notes.add("the AMP GradScaler state is not used (MoCo4J trains in float32)");
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
            Checkpoints.writeHost(target, cfg, kind, tensors, new TrainingProgress(epoch, 0, 0, 0), 0, 0, origin);
        } catch (IOException e) {
            throw new UserException("cannot write " + target + " (" + e.getMessage() + "); choose a writable --out", e);
        }

        List<String> lines = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "Read %s: official MoCo v3 checkpoint (main_moco.py layout)%s%s", request.from(),
                top.get("arch") instanceof String a ? ", arch " + a : "", top.containsKey("epoch") ? ", epoch " + epoch : ""));
        lines.add(String.format(Locale.ROOT, "Model: MoCo v3, ResNet-%d%s%s, projector %d-%d-%d (%d layers), %s", shape.depth(),
                shape.widthMultiplier() != 1 ? " x" + BigDecimal.valueOf(shape.widthMultiplier()).toPlainString() : "",
                shape.cifarStem() ? " (CIFAR stem)" : "", shape.featureDim(), projector.hidden(), projector.outDim(),
                projector.layers(), pred == null ? "no predictor" : "predictor " + pred.outDim() + "-" + pred.hidden() + "-" + pred.outDim()));
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
     * Maps LARS's {@code state[position]['mu']} onto parameter names (null positions are the momentum encoder's);
     * returns a problem description, or null when done.
     */
    private static String larsBuffers(Object optimizer, List<String> positions, Map<String, long[]> shapes,
                                      Map<String, HostTensor> into) {
        if (!(optimizer instanceof Map<?, ?> sd) || !(sd.get("state") instanceof Map<?, ?> state)
                || !(sd.get("param_groups") instanceof List<?> groups) || groups.isEmpty()) {
            return optimizer == null ? "the file has no optimizer state" : "'optimizer' is not a torch optimizer state dict";
        }
        List<Object> ids = new ArrayList<>();
        for (Object g : groups) {
            if (!(g instanceof Map<?, ?> group) || !(group.get("params") instanceof List<?> params)) {
                return "an optimizer parameter group has no 'params' list";
            }
            ids.addAll(params);
        }
        if (ids.size() != positions.size()) {
            return "the optimizer holds " + ids.size() + " parameters but the model has " + positions.size();
        }
        Map<String, HostTensor> found = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : state.entrySet()) {
            int pos = ids.indexOf(e.getKey());
            if (pos < 0) {
                return "optimizer state id " + e.getKey() + " is in no parameter group";
            }
            Object mu = e.getValue() instanceof Map<?, ?> s ? s.get("mu") : null;
            String name = positions.get(pos);
            if (mu == null || name == null) {
                continue;
            }
            if (!(mu instanceof HostTensor t) || !Arrays.equals(t.shape(), shapes.get(name))) {
                return "the LARS buffer of parameter " + pos + " (" + name + ") is not a tensor of its shape";
            }
            found.put(name, t);
        }
        for (String name : positions) {
            if (name != null && found.containsKey(name)) {
                into.put(Checkpoints.OPTIMIZER + name, found.get(name));
            }
        }
        return null;
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
