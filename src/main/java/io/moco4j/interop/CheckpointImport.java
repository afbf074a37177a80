package io.moco4j.interop;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.MocoConfig;
import io.moco4j.interop.MocoCheckpointLayout.Description;
import io.moco4j.interop.MocoCheckpointLayout.Kind;
import io.moco4j.io.HostTensor;
import io.moco4j.model.ResNet;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.RunDirectory;
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

/**
 * Converts PyTorch weights into a MoCo4J checkpoint.
 *
 * <ul>
 *   <li>An official MoCo checkpoint ({@code main_moco.py}: both encoders, the queue, its pointer, the epoch
 *       and the SGD state) becomes a full pretraining checkpoint that {@code pretrain --resume} continues:
 *       the queue is transposed from (dim, K) to (K, dim) and the momentum buffers are renamed from torch's
 *       parameter positions to parameter names (see {@link TorchOptimizerState}).</li>
 *   <li>A torchvision state dict, a {@code main_lincls.py} checkpoint, or a MoCo file without key encoder or
 *       queue becomes an encoder-only checkpoint ({@link Checkpoints.Kind#ENCODER}) for the evaluation commands.</li>
 * </ul>
 * Both {@code torch.save} files (zip or legacy) and safetensors files with the same key layouts are read.
 */
public final class CheckpointImport {

    /**
     * @param out a {@code .ckpt} file, or a run directory that receives {@code checkpoints/last.ckpt}
     * @param preset preset for the settings the file does not store; null chooses by head
     */
    public record Request(Path from, Path out, String preset, Map<String, String> overrides) {}

    /**
     * @param checkpoint the file written
     * @param runDirectory the run directory when {@code out} was one, else null
     * @param lines the summary for the user: what was found, assumed, dropped and written
     */
    public record Result(Path checkpoint, Path runDirectory, Checkpoints.Kind kind, Description description, ImportedModel model,
                         List<String> lines) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointImport() {}

    /** Where the checkpoint goes: {@code out} itself when it ends in {@code .ckpt}, else {@code out/checkpoints/last.ckpt}. */
    public static Path target(Path out) {
        return isCheckpointFile(out) ? out : RunDirectory.of(out).lastCheckpoint();
    }

    public static Result run(Request request) {
        Path target = target(request.out());
        if (Files.exists(target)) {
            throw new UserException(target + " already exists; choose another --out or delete it first");
        }
        Object tree = StateDictFiles.readTree(request.from());
        LinkedHashMap<String, HostTensor> sd = MocoCheckpointLayout.stateDict(tree);
        String v3Prefix = MocoV3Import.prefix(sd);
        if (v3Prefix != null) {
            return MocoV3Import.run(request, target, tree, sd, v3Prefix);
        }
        Description d = MocoCheckpointLayout.describe(tree);
        Map<String, Object> top = tree instanceof Map<?, ?> m && m != sd ? castMap(m) : Map.of();
        String keyPrefix = switch (d.kind()) {
            case OFFICIAL_MOCO -> "module.encoder_k.";
            case MOCO4J -> "encoder_k.";
            default -> null;
        };
        String queueKey = d.kind() == Kind.OFFICIAL_MOCO ? "module.queue" : "queue";
        LinkedHashMap<String, HostTensor> q = MocoCheckpointLayout.queryEncoder(sd);
        LinkedHashMap<String, HostTensor> k = keyPrefix == null ? new LinkedHashMap<>() : withoutPrefix(sd, keyPrefix);
        boolean full = !k.isEmpty() && sd.containsKey(queueKey);

        List<String> lines = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "Read %s: %s%s%s", request.from(), layoutName(d.kind()),
                d.arch() == null ? "" : ", arch " + d.arch(), d.epoch() == null ? "" : ", epoch " + d.epoch()));

        Map<String, String> fromFile = new LinkedHashMap<>();
        Object optimizer = full ? top.get("optimizer") : null;
        Map<String, Object> sgdSettings = TorchOptimizerState.settings(optimizer);
        putSetting(fromFile, "optim.momentum", sgdSettings.get("momentum"));
        putSetting(fromFile, "optim.weight_decay", sgdSettings.get("weight_decay"));
        if (sgdSettings.get("nesterov") instanceof Boolean n) {
            fromFile.put("optim.nesterov", n.toString());
        }
        fromFile.keySet().removeAll(request.overrides().keySet());
        ImportedModel model = ImportedModel.of(d, MocoCheckpointLayout.shapes(q), request.preset(), fromFile, request.overrides());
        MocoConfig cfg = model.config();
        if (full) {
            model.checkTensors(MocoCheckpointLayout.shapes(k), "encoder_k");
        }

        int epoch = d.epoch() == null ? 0 : Math.toIntExact(d.epoch());
        if (d.epoch() == null) {
            notes.add("no epoch in the file: counting from epoch 0");
        }
        Checkpoints.Kind kind = full ? Checkpoints.Kind.PRETRAINING : Checkpoints.Kind.ENCODER;
        LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
        q.forEach((name, t) -> tensors.put(Checkpoints.Q + name, t));
        int queuePointer = 0;
        long optimizerSteps = 0;
        String queueLine = "";
        String optimizerLine = null;
        if (full) {
            k.forEach((name, t) -> tensors.put(Checkpoints.K + name, t));
            HostTensor queue = queueRows(sd.get(queueKey), d, cfg.model().dim(), notes);
            tensors.put(Checkpoints.QUEUE, queue);
            queuePointer = queuePointer(sd.get(d.kind() == Kind.OFFICIAL_MOCO ? "module.queue_ptr" : "queue_ptr"), cfg, notes);
            queueLine = String.format(Locale.ROOT, "; queue K=%d, queue_ptr %d", queue.shape()[0], queuePointer);
            try (NDManager manager = NDManager.newBaseManager(Device.cpu());
                 ResNet shapeOnly = ResNet.create(model.spec(), manager, 0)) {
                LinkedHashMap<String, long[]> params = new LinkedHashMap<>();
                shapeOnly.parameters().forEach((name, p) -> params.put(name, p.getShape().getShape()));
                TorchOptimizerState.Mapping mapping = TorchOptimizerState.momentumBuffers(optimizer, params, params.size());
                if (mapping.mapped()) {
                    mapping.state().forEach((name, t) -> tensors.put(Checkpoints.OPTIMIZER + name, t));
                    optimizerLine = (String.format(Locale.ROOT, "Optimizer: %s%s%s",
                            mapping.state().isEmpty() ? "no momentum buffers in the file (never stepped)"
                                    : mapping.state().size() + " momentum buffers mapped onto encoder_q parameters", fromFile.isEmpty() ? "" : "; from the file: " + String.join(", ", entries(fromFile)),
                            mapping.droppedNeverStepped() == 0 ? ""
                                    : "; dropped " + mapping.droppedNeverStepped() + " buffers of encoder_k parameters"));
                } else {
                    optimizerLine = "Optimizer: not imported (" + mapping.problem() + "); momentum restarts from zero";
                }
            }
            if (sgdSettings.get("lr") instanceof Number lr) {
                notes.add("the file's last lr " + lr + " is after its schedule; the base lr is optim.lr=" + cfg.optim().lr());
            }
        } else if (keyPrefix != null) {
            notes.add("no encoder_k or queue in the file: imported as an encoder only");
        }
        List<String> dropped = droppedKeys(sd, d.kind(), full);
        if (!dropped.isEmpty()) {
            notes.add("dropped " + (dropped.size() <= 4 ? dropped : dropped.subList(0, 4) + " and " + (dropped.size() - 4) + " more"));
        }
        if (d.kind() == Kind.OFFICIAL_LINCLS && d.dim() > 0) {
            notes.add("fc is main_lincls.py's " + d.dim() + "-class classifier, kept as a linear head");
        } else if (d.kind() == Kind.TORCHVISION && d.head() != MocoCheckpointLayout.Head.NONE) {
            notes.add("the head (fc, " + d.dim() + " outputs) is kept");
        }
        if (d.arch() != null && !d.arch().equals("resnet" + model.spec().depth())) {
            notes.add("the file names arch '" + d.arch() + "' but its keys describe a ResNet-" + model.spec().depth() + " (used)");
        }
        if (model.spec().cifarStem()) {
            notes.add("conv1 is 3x3: CIFAR stem (stride 1, no max-pool)");
        }
        boolean moco = d.kind() == Kind.OFFICIAL_MOCO || d.kind() == Kind.MOCO4J;
        lines.add("Model: " + model.describe() + (moco ? ", embedding dim " + cfg.model().dim() : "") + queueLine);
        if (optimizerLine != null) {
            lines.add(optimizerLine);
        }
        if (!model.assumed().isEmpty()) {
            lines.add("Assumed from preset " + model.preset() + " (PyTorch checkpoints do not store them): "
                    + String.join(", ", model.assumed()));
        }
        notes.forEach(n -> lines.add("Note: " + n));

        ObjectNode origin = JSON.createObjectNode();
        origin.put("imported_from", request.from().toAbsolutePath().normalize().toString());
        origin.put("layout", d.kind().name().toLowerCase(Locale.ROOT));
        origin.put("preset", model.preset());
        origin.putPOJO("assumed", model.assumed());
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Path parent = target.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Map<String, NDArray> arrays = StateDictFiles.toNDArrays(tensors, manager);
            Checkpoints.write(target, cfg, kind, arrays, new TrainingProgress(epoch, 0, 0, 0), queuePointer, optimizerSteps, origin);
        } catch (IOException e) {
            throw new UserException("cannot write " + target + " (" + e.getMessage() + "); choose a writable --out", e);
        }
        Path runDir = isCheckpointFile(request.out()) ? null : request.out();
        lines.add(String.format(Locale.ROOT, "Wrote %s: MoCo4J %s, epoch %d", target, full
                ? "pretraining checkpoint (encoder_q, encoder_k, queue" + (hasOptimizer(tensors) ? ", optimizer)" : ")")
                : "encoder-only checkpoint", epoch));
        if (full) {
            lines.add(runDir != null
                    ? "Continue pretraining: ./moco4j pretrain --out " + runDir + " --resume --epochs N   (N > " + epoch + ")"
                    : "To continue pretraining, place it as runs/NAME/checkpoints/last.ckpt and run ./moco4j pretrain --out runs/NAME --resume --epochs N");
        } else {
            lines.add("Use it with knn, lincls or embed; pretraining cannot resume from an encoder-only checkpoint");
        }
        return new Result(target, runDir, kind, d, model, lines);
    }

    private static boolean isCheckpointFile(Path out) {
        return out.getFileName() != null && out.getFileName().toString().endsWith(".ckpt");
    }

    private static String layoutName(Kind kind) {
        return switch (kind) {
            case OFFICIAL_MOCO -> "official MoCo checkpoint (main_moco.py layout)";
            case MOCO4J -> "MoCo4J-layout state dict";
            case OFFICIAL_LINCLS -> "official linear-classification checkpoint (main_lincls.py layout)";
            case TORCHVISION -> "torchvision ResNet state dict";
        };
    }

    /** The queue as (K, dim) rows: the official layout stores (dim, K); ours (K, dim), told apart by dim if needed. */
    private static HostTensor queueRows(HostTensor queue, Description d, int dim, List<String> notes) {
        if (queue.rank() != 2) {
            throw new UserException("the queue has shape " + Arrays.toString(queue.shape()) + "; a MoCo queue is 2-d (dim x K)");
        }
        long[] s = queue.shape();
        HostTensor rows;
        if (d.kind() == Kind.OFFICIAL_MOCO) {
            rows = queue.transpose2d();
        } else if (s[1] != dim && s[0] == dim) {
            notes.add("the queue is stored as (dim, K); transposed to (K, dim)");
            rows = queue.transpose2d();
        } else {
            rows = queue;
        }
        if (rows.shape()[1] != dim) {
            throw new UserException("the queue has shape " + Arrays.toString(s) + " but the head outputs " + dim
                    + "-d keys; the file is inconsistent");
        }
        if (!rows.dtype().isFloating()) {
            throw new UserException("the queue holds " + rows.dtype() + " values; a MoCo queue holds floating-point keys");
        }
        return rows;
    }

    private static int queuePointer(HostTensor ptr, MocoConfig cfg, List<String> notes) {
        if (ptr == null) {
            notes.add("no queue_ptr in the file: the queue is filled from row 0");
            return 0;
        }
        if (ptr.numel() != 1 || ptr.dtype().isFloating()) {
            throw new UserException("queue_ptr has shape " + Arrays.toString(ptr.shape()) + " and type " + ptr.dtype()
                    + "; expected one integer");
        }
        long p = ptr.toLongArray()[0];
        int size = cfg.moco().queueSize();
        if (p < 0 || p >= size) {
            throw new UserException("queue_ptr " + p + " is outside the queue of " + size + " keys; the file is inconsistent");
        }
        int perStep = cfg.keysPerStep();
        if (p % perStep != 0) {
            throw new UserException("queue_ptr " + p + " is not a multiple of the " + perStep + " keys enqueued per step,"
                    + " so the queue cannot continue; pass --set train.batch_size=B with B dividing " + p);
        }
        return (int) p;
    }

    private static List<String> droppedKeys(Map<String, HostTensor> sd, Kind kind, boolean full) {
        List<String> dropped = new ArrayList<>();
        for (String key : sd.keySet()) {
            boolean kept = switch (kind) {
                case OFFICIAL_MOCO -> key.startsWith("module.encoder_q.")
                        || full && (key.startsWith("module.encoder_k.") || key.equals("module.queue") || key.equals("module.queue_ptr"));
                case MOCO4J -> key.startsWith("encoder_q.")
                        || full && (key.startsWith("encoder_k.") || key.equals("queue") || key.equals("queue_ptr"));
                case OFFICIAL_LINCLS -> key.startsWith("module.");
                case TORCHVISION -> true;
            };
            if (!kept) {
                dropped.add(key);
            }
        }
        return dropped;
    }

    private static boolean hasOptimizer(Map<String, ?> tensors) {
        return tensors.keySet().stream().anyMatch(k -> k.startsWith(Checkpoints.OPTIMIZER));
    }

    private static LinkedHashMap<String, HostTensor> withoutPrefix(Map<String, HostTensor> sd, String prefix) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        sd.forEach((key, t) -> {
            if (key.startsWith(prefix)) {
                out.put(key.substring(prefix.length()), t);
            }
        });
        return out;
    }

    private static void putSetting(Map<String, String> into, String key, Object value) {
        if (value instanceof Number n) {
            into.put(key, BigDecimal.valueOf(n.doubleValue()).stripTrailingZeros().toPlainString());
        }
    }

    private static List<String> entries(Map<String, String> m) {
        List<String> out = new ArrayList<>();
        m.forEach((key, v) -> out.add(key + "=" + v));
        return out;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Map<?, ?> m) {
        return (Map<String, Object>) m;
    }
}
