package io.moco4j.interop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TensorArchive;
import io.moco4j.method.Encoders;
import io.moco4j.method.HeadRules;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import io.moco4j.model.VitSpec;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.InitialWeights;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * {@code pretrain --init-from FILE}: a new run whose two encoders start from the weights of a file, as a user adapting
 * pretrained weights to their own images wants. Everything else is the new run's: the queue, the optimizer (no state),
 * the learning-rate and momentum schedules, the epoch count.
 *
 * <p>The file is read by the same safe readers as {@code ./moco4j import} (restricted unpickler, safetensors): a MoCo4J
 * checkpoint, an official MoCo v1/v2 ({@code main_moco.py}) or v3 checkpoint, a {@code main_lincls.py} checkpoint, a
 * torchvision ResNet or a timm / moco-v3 ViT state dict. The architecture of the backbone is the file's
 * ({@link #configure}); the head (v1/v2 {@code fc}, v3 projector) and the v3 predictor are loaded where their keys and
 * shapes are the new run's, else start fresh from the run's seed, and each part is said in one line ({@link #apply}).
 * The key encoder starts as an exact copy of the query encoder, as in a fresh run. The file's name and SHA-256 go
 * into every checkpoint's metadata ({@link #provenance}).
 */
public final class InitFromFile implements InitialWeights {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private final Path file;
    private final String layout;
    private final String sha256;
    /** The backbone's model.* settings (and for a ViT the image size its position embedding was made for). */
    private final Map<String, String> architecture;
    private final String described;
    /** The source's grid side in pixels for a ViT (its pos_embed), 0 for a ResNet. */
    private final int sourceImageSize;
    private final LinkedHashMap<String, HostTensor> backbone;
    /** Head tensors with the key names they have inside an encoder ({@code fc.*} or {@code head.*}). */
    private final LinkedHashMap<String, HostTensor> head;
    private final LinkedHashMap<String, HostTensor> predictor;
    private final List<String> partLines = new ArrayList<>();

    private InitFromFile(Path file, String layout, String sha256, Map<String, String> architecture, String described,
                           int sourceImageSize, LinkedHashMap<String, HostTensor> backbone, LinkedHashMap<String, HostTensor> head,
                           LinkedHashMap<String, HostTensor> predictor) {
        this.file = file;
        this.layout = layout;
        this.sha256 = sha256;
        this.architecture = architecture;
        this.described = described;
        this.sourceImageSize = sourceImageSize;
        this.backbone = backbone;
        this.head = head;
        this.predictor = predictor;
    }

    /**
     * Reads the weights of {@code file}.
     *
     * @param overrides the user's {@code --set} values: {@code model.vit_heads} names the head count of a ViT whose file
     *                  does not say it (timm state dicts)
     * @param runConfig the new run's configuration: a ViT of the file's width there gives the head count as well
     * @throws UserException with one line when the file is missing, damaged or not a model MoCo4J can build
     */
    public static InitFromFile read(Path file, Map<String, String> overrides, MocoConfig runConfig) {
        try {
            if (isMoco4jCheckpoint(file)) {
                return fromMoco4j(file);
            }
            Object tree = StateDictFiles.readTree(file);
            LinkedHashMap<String, HostTensor> sd = MocoCheckpointLayout.stateDict(tree);
            Object arch = tree instanceof Map<?, ?> top && top != sd ? top.get("arch") : null;
            String v3 = MocoV3Import.prefix(sd);
            if (v3 != null) {
                LinkedHashMap<String, HostTensor> base = under(sd, v3 + "base_encoder.");
                return split(file, "official MoCo v3 checkpoint", base, under(sd, v3 + "predictor."), arch, overrides, runConfig);
            }
            String vitPrefix = sd.containsKey("cls_token") ? "" : sd.containsKey("module.cls_token") ? "module." : null;
            if (vitPrefix != null) {
                return split(file, "timm ViT state dict", under(sd, vitPrefix), new LinkedHashMap<>(), arch, overrides, runConfig);
            }
            MocoCheckpointLayout.Kind kind = MocoCheckpointLayout.kind(sd);
            String name = switch (kind) {
                case OFFICIAL_MOCO -> "official MoCo v1/v2 checkpoint";
                case MOCO4J -> "MoCo4J-layout state dict";
                case OFFICIAL_LINCLS -> "main_lincls.py checkpoint";
                case TORCHVISION -> "torchvision ResNet state dict";
            };
            return split(file, name, MocoCheckpointLayout.queryEncoder(sd), new LinkedHashMap<>(), arch, overrides, runConfig);
        } catch (UserException e) {
            throw new UserException("--init-from " + file + ": " + e.getMessage(), e);
        }
    }

    /** A MoCo4J checkpoint (pretraining or encoder-only): its query encoder and, for v3, its predictor. */
    private static InitFromFile fromMoco4j(Path file) {
        Checkpoints.Loaded ckpt = Checkpoints.load(file);
        MocoConfig c = ckpt.config();
        LinkedHashMap<String, HostTensor> q = new LinkedHashMap<>();
        LinkedHashMap<String, HostTensor> pred = new LinkedHashMap<>();
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            for (Map.Entry<String, NpyArray> e : ckpt.contents().tensors().entrySet()) {
                if (e.getKey().startsWith(Checkpoints.Q)) {
                    q.put(e.getKey().substring(Checkpoints.Q.length()), HostTensor.fromNDArray(TensorArchive.toNDArray(e.getValue(), m)));
                } else if (e.getKey().startsWith(Checkpoints.PREDICTOR)) {
                    pred.put(e.getKey().substring(Checkpoints.PREDICTOR.length()),
                            HostTensor.fromNDArray(TensorArchive.toNDArray(e.getValue(), m)));
                }
            }
        }
        if (q.isEmpty()) {
            throw new UserException("checkpoint " + file + " holds no query encoder; it is not a MoCo4J pretraining checkpoint");
        }
        Map<String, String> arch = new LinkedHashMap<>();
        arch.put("model.arch", c.model().arch());
        String desc;
        int imageSize = 0;
        if (Encoders.isVit(c)) {
            VitSpec v = Encoders.vitSpec(c);
            arch.put("model.patch_size", Integer.toString(v.patchSize()));
            arch.put("model.vit_width", Integer.toString(v.width()));
            arch.put("model.vit_depth", Integer.toString(v.depth()));
            arch.put("model.vit_heads", Integer.toString(v.heads()));
            imageSize = c.train().imageSize();
            desc = String.format(Locale.ROOT, "ViT (D %d, depth %d, %d heads, patch %d, %d px)", v.width(), v.depth(), v.heads(),
                    v.patchSize(), imageSize);
        } else {
            arch.put("model.cifar_stem", Boolean.toString(c.model().cifarStem()));
            arch.put("model.width", BigDecimal.valueOf(c.model().width()).toPlainString());
            desc = "ResNet-" + c.model().arch().substring("resnet".length())
                    + (c.model().width() != 1 ? " x" + BigDecimal.valueOf(c.model().width()).stripTrailingZeros().toPlainString() : "")
                    + (c.model().cifarStem() ? " (CIFAR stem)" : "");
        }
        String headPrefix = Encoders.headPrefix(c);
        LinkedHashMap<String, HostTensor> bb = new LinkedHashMap<>();
        LinkedHashMap<String, HostTensor> hd = new LinkedHashMap<>();
        q.forEach((k, t) -> (k.startsWith(headPrefix) ? hd : bb).put(k, t));
        return new InitFromFile(file, "MoCo4J " + (ckpt.kind() == Checkpoints.Kind.ENCODER ? "encoder" : "MoCo v" + c.version())
                + " checkpoint", sha256(file), arch, desc, imageSize, bb, hd, pred);
    }

    /** Splits one encoder (timm or torchvision key names, head included) into backbone and head, and reads its architecture. */
    private static InitFromFile split(Path file, String layout, LinkedHashMap<String, HostTensor> encoder,
                                        LinkedHashMap<String, HostTensor> predictor, Object archInFile, Map<String, String> overrides,
                                        MocoConfig runConfig) {
        boolean vit = encoder.containsKey("cls_token");
        if (!vit && !encoder.containsKey("conv1.weight")) {
            throw new UserException("the encoder is neither a ResNet (conv1.weight) nor a ViT (cls_token); not a model MoCo4J can build");
        }
        String headPrefix = (vit ? HeadRules.VIT : HeadRules.RESNET).headPrefix();
        LinkedHashMap<String, HostTensor> bb = new LinkedHashMap<>();
        LinkedHashMap<String, HostTensor> hd = new LinkedHashMap<>();
        encoder.forEach((k, t) -> (k.startsWith(headPrefix) ? hd : bb).put(k, t));
        Map<String, String> arch;
        int imageSize = 0;
        if (vit) {
            Map<String, String> heads = new LinkedHashMap<>();
            if (overrides.containsKey("model.vit_heads")) {
                heads.put("model.vit_heads", overrides.get("model.vit_heads"));
            } else if (Encoders.isVit(runConfig) && bb.get("cls_token").rank() == 3
                    && Encoders.vitSpec(runConfig).width() == bb.get("cls_token").shape()[2]) {
                heads.put("model.vit_heads", Integer.toString(Encoders.vitSpec(runConfig).heads())); // not in the weights
            }
            arch = new LinkedHashMap<>(MocoV3Import.vitSettings(bb, archInFile, heads));
            imageSize = Integer.parseInt(arch.remove("train.image_size"));
        } else {
            arch = new LinkedHashMap<>(MocoV3Import.resnetSettings(bb));
        }
        arch.remove("feature_dim");
        String desc = arch.remove("described");
        return new InitFromFile(file, layout, sha256(file), arch, desc, imageSize, bb, hd, predictor);
    }

    /**
     * The new run's configuration with the file's architecture. A preset's other architecture is replaced (said in one
     * line on {@code out}); a value the user chose ({@code --config} / {@code --set}, i.e. differing from the preset's)
     * that contradicts the file is refused in one line.
     *
     * @param presetConfig the configuration of the preset alone, to tell the user's choices from the preset's
     */
    public MocoConfig configure(MocoConfig config, MocoConfig presetConfig, java.io.PrintStream out) {
        JsonNode have = tree(config);
        JsonNode preset = tree(presetConfig);
        List<String> replaced = new ArrayList<>();
        for (Map.Entry<String, String> e : architecture.entrySet()) {
            String now = value(have, e.getKey());
            if (same(now, e.getValue())) {
                continue;
            }
            if (!same(now, value(preset, e.getKey()))) {
                throw new UserException("--init-from " + file.getFileName() + " holds a " + described + " but the configuration sets "
                        + e.getKey() + "=" + now + "; with --init-from the architecture is the file's: drop that setting");
            }
            replaced.add(e.getKey() + "=" + now);
        }
        MocoConfig withArch = ConfigLoader.of(config).setAll(architecture).build();
        out.println("Architecture from " + file.getFileName() + ": " + described
                + (replaced.isEmpty() ? "" : " (replaces the preset's " + String.join(", ", replaced) + ")"));
        return withArch;
    }

    /**
     * Loads the weights into a fresh model of the configured architecture: the backbone always, the head and the v3
     * predictor where their keys and shapes are the run's; then copies the query encoder into the key encoder.
     * The queue (v1/v2) stays the fresh model's.
     *
     * @return one line per part: backbone, head, predictor (v3), key encoder
     */
    @Override
    public List<String> apply(MomentumContrast moco, MocoConfig config) {
        List<String> lines = new ArrayList<>();
        Network q = moco.encoderQ();
        String headPrefix = Encoders.headPrefix(config);
        LinkedHashMap<String, long[]> wantBackbone = new LinkedHashMap<>();
        LinkedHashMap<String, long[]> wantHead = new LinkedHashMap<>();
        q.stateDict().forEach((k, v) -> (k.startsWith(headPrefix) ? wantHead : wantBackbone).put(k, v.getShape().getShape()));
        LinkedHashMap<String, HostTensor> bb = new LinkedHashMap<>(backbone);
        String posNote = "";
        if (bb.containsKey("pos_embed") && wantBackbone.containsKey("pos_embed")
                && !Arrays.equals(bb.get("pos_embed").shape(), wantBackbone.get("pos_embed"))) {
            bb.remove("pos_embed"); // the fixed sin-cos embedding, made for the run's image size instead of the file's
            posNote = String.format(Locale.ROOT, "; pos_embed is the run's sin-cos for %d px (the file's is for %d px)",
                    config.train().imageSize(), sourceImageSize);
            wantBackbone.remove("pos_embed");
        }
        String mismatch = mismatch(bb, wantBackbone);
        if (mismatch != null) {
            throw new UserException("--init-from " + file + ": the backbone does not fit the model built from it (" + mismatch
                    + "); the file is inconsistent or of a layout MoCo4J does not know");
        }
        try (NDManager tmp = moco.manager().newSubManager()) {
            q.loadStateDict(StateDictFiles.toNDArrays(bb, tmp), false);
            lines.add(String.format(Locale.ROOT, "backbone: from %s (%s, %s, %d tensors)%s", file.getFileName(), layout, described,
                    bb.size(), posNote));
            String headMismatch = head.isEmpty() ? "the file has none" : mismatch(head, wantHead);
            String headName = headPrefix.substring(0, headPrefix.length() - 1);
            if (wantHead.isEmpty()) {
                lines.add("head: none in this run" + (head.isEmpty() ? "" : "; the file's " + headName + " (" + head.size() + " tensors) is not used"));
            } else if (headMismatch == null) {
                q.loadStateDict(StateDictFiles.toNDArrays(head, tmp), false);
                lines.add("head (" + headName + "): from the file (" + head.size() + " tensors of the same shapes)");
            } else {
                lines.add("head (" + headName + "): fresh, from the run's seed (" + headMismatch + ")");
            }
            Network pred = moco.networks().get(MocoV3.PREDICTOR);
            if (pred != null) {
                LinkedHashMap<String, long[]> wantPred = new LinkedHashMap<>();
                pred.stateDict().forEach((k, v) -> wantPred.put(k, v.getShape().getShape()));
                String predMismatch = predictor.isEmpty() ? "the file has none" : mismatch(predictor, wantPred);
                if (predMismatch == null) {
                    pred.loadStateDict(StateDictFiles.toNDArrays(predictor, tmp), true);
                    lines.add("predictor: from the file (" + predictor.size() + " tensors of the same shapes)");
                } else {
                    lines.add("predictor: fresh, from the run's seed (" + predMismatch + ")");
                }
            }
        }
        Networks.copy(moco.encoderQ(), moco.encoderK());
        lines.add("key encoder: a copy of the query encoder; " + (config.hasQueue() ? "queue, " : "")
                + "optimizer, schedules and epochs: this run's");
        partLines.clear();
        partLines.addAll(lines);
        return lines;
    }

    /** Where the weights came from, for the checkpoints' metadata ({@code "origin"}) and the run's config.yaml. */
    @Override
    public ObjectNode provenance() {
        ObjectNode o = JSON.createObjectNode();
        o.put("init_from", file.toAbsolutePath().normalize().toString());
        o.put("file_name", String.valueOf(file.getFileName()));
        o.put("sha256", sha256);
        o.put("layout", layout);
        o.put("architecture", described);
        o.putPOJO("parts", List.copyOf(partLines));
        return o;
    }

    public Path file() {
        return file;
    }

    public String sha256() {
        return sha256;
    }

    /** The backbone tensors as read (key names as inside the encoder), for tests and tools. */
    public Map<String, HostTensor> backbone() {
        return java.util.Collections.unmodifiableMap(backbone);
    }

    /** null when {@code have} has exactly the keys and shapes of {@code want}, else what differs first. */
    private static String mismatch(Map<String, HostTensor> have, Map<String, long[]> want) {
        List<String> missing = new ArrayList<>(want.keySet());
        missing.removeAll(have.keySet());
        List<String> extra = new ArrayList<>(have.keySet());
        extra.removeAll(want.keySet());
        if (!missing.isEmpty() || !extra.isEmpty()) {
            return (missing.isEmpty() ? "" : "the run needs " + first(missing)) + (missing.isEmpty() || extra.isEmpty() ? "" : ", ")
                    + (extra.isEmpty() ? "" : "the file has " + first(extra));
        }
        for (Map.Entry<String, long[]> e : want.entrySet()) {
            long[] h = have.get(e.getKey()).shape();
            if (!Arrays.equals(h, e.getValue())) {
                return e.getKey() + " is " + Arrays.toString(h) + " in the file, " + Arrays.toString(e.getValue()) + " in the run";
            }
        }
        return null;
    }

    private static String first(List<String> keys) {
        return keys.size() <= 2 ? String.join(", ", keys) : keys.get(0) + ", " + keys.get(1) + " and " + (keys.size() - 2) + " more";
    }

    /** A TensorArchive zip ({@code meta.json} inside), told apart from a torch.save zip and a safetensors file by content. */
    private static boolean isMoco4jCheckpoint(Path file) {
        if (!Files.isRegularFile(file)) {
            return false; // StateDictFiles.readTree says what is wrong in one line
        }
        try (ZipFile zip = new ZipFile(file.toFile())) {
            return zip.getEntry(TensorArchive.META) != null;
        } catch (ZipException notAZip) {
            return false;
        } catch (IOException e) {
            throw new UserException(file + ": cannot read (" + e.getMessage() + "); check the path and its permissions", e);
        }
    }

    static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UserException(file + ": cannot read (" + e.getMessage() + "); check the path and its permissions", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
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

    private static JsonNode tree(MocoConfig c) {
        try {
            return YAML.readTree(ConfigLoader.toYaml(c));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String value(JsonNode tree, String key) {
        String[] parts = key.split("\\.");
        return tree.path(parts[0]).path(parts[1]).asText("");
    }

    /** Equal as numbers when both are numbers (0.25 and 0.250), else as text. */
    private static boolean same(String a, String b) {
        try {
            return new BigDecimal(a).compareTo(new BigDecimal(b)) == 0;
        } catch (NumberFormatException notNumbers) {
            return a.equals(b);
        }
    }
}
