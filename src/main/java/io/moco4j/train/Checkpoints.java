package io.moco4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TensorArchive;
import io.moco4j.method.Encoders;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.MocoV3;
import io.moco4j.method.MomentumContrast;
import io.moco4j.method.SavedModel;
import io.moco4j.model.Encoder;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Network;
import io.moco4j.model.ResNetSpec;
import io.moco4j.optim.LossScaler;
import io.moco4j.optim.Optimizer;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Saves and restores everything a MoCo run needs to continue exactly: both encoders (parameters and
 * BN buffers), the queue and its pointer, the optimizer's momentum buffers and step count, the
 * progress counters and the configuration. Randomness needs no saved generator state: data order,
 * augmentations and Shuffle BN permutations are all derived from (seed, epoch, index, step).
 *
 * <p>A checkpoint is of one of two {@link Kind}s (meta {@code "kind"}; absent means pretraining): a full
 * pretraining state as above, or an encoder only ({@code encoder_q.*} and nothing else, e.g. imported from a
 * torchvision or {@code main_lincls.py} file), which evaluation can use but pretraining cannot resume.
 */
public final class Checkpoints {
    public static final String FORMAT = "moco4j-checkpoint";
    public static final int VERSION = 1;
    public static final String Q = MomentumContrast.QUERY;
    public static final String K = MomentumContrast.KEY;
    public static final String QUEUE = MocoV1V2.QUEUE;
    public static final String PREDICTOR = MocoV3.PREDICTOR;
    public static final String OPTIMIZER = "optimizer.";
    /** The online linear probe's state ({@code eval.OnlineProbe#state}); absent in checkpoints of runs without one. */
    public static final String ONLINE_PROBE = "online_probe.";
    /** Meta key of the loss scaler's state (written only by fp16 runs and imports that carry one). */
    public static final String SCALER = "scaler";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a checkpoint holds: everything to continue pretraining, or one encoder's weights. */
    public enum Kind {
        PRETRAINING, ENCODER;

        String metaValue() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        static Kind of(JsonNode meta, Path file) {
            String v = meta.path("kind").asText("pretraining");
            for (Kind k : values()) {
                if (k.metaValue().equals(v)) {
                    return k;
                }
            }
            throw new UserException("checkpoint " + file + " is of kind '" + v + "', which this MoCo4J does not know; upgrade MoCo4J");
        }
    }

    private Checkpoints() {}

    /** A checkpoint read from disk, before its tensors are put anywhere. */
    /** @param ranks the number of processes that trained it (meta {@code "ranks"}; 1 when absent) */
    public record Loaded(Path file, MocoConfig config, TrainingProgress progress, int queuePointer, long optimizerSteps,
                         TensorArchive.Contents contents, Kind kind, int ranks) implements SavedModel {

        /** The metadata's {@code "origin"} (imported from, or a run's {@code --init-from} provenance), or null. */
        public ObjectNode origin() {
            try {
                return JSON.readTree(contents.metaJson()).get("origin") instanceof ObjectNode o ? o : null;
            } catch (IOException e) {
                return null; // parse() read the same metadata already; nothing to add here
            }
        }

        /**
         * The precision the run trained in (meta {@code "precision"}: fp32, bf16 or fp16; {@code fp32} for checkpoints
         * written before mixed precision existed). Weights and optimizer state are float32 in every precision.
         */
        public String precision() {
            try {
                return JSON.readTree(contents.metaJson()).path("precision").asText("fp32");
            } catch (IOException | RuntimeException e) {
                return "fp32";
            }
        }

        /** Refuses checkpoints that cannot continue pretraining (encoder-only ones), with the reason. */
        public void requirePretraining() {
            if (kind != Kind.PRETRAINING) {
                throw new UserException("checkpoint " + file + " holds only an encoder (no key encoder, queue or optimizer state),"
                        + " so pretraining cannot resume from it; use it with knn, lincls or embed, or import an official"
                        + " MoCo checkpoint (main_moco.py) to continue pretraining");
            }
        }

        /**
         * The query encoder's architecture: the configured model, without a head when the checkpoint has no
         * {@code fc} tensors (e.g. imported from a torchvision state dict saved without its classifier).
         */
        public ResNetSpec encoderSpec() {
            ResNetSpec spec = Encoders.spec(config);
            boolean hasHead = contents.tensors().keySet().stream().anyMatch(k -> k.startsWith(Q + "fc."));
            return hasHead ? spec : spec.withHead(HeadSpec.none());
        }

        /**
         * The query encoder, built as the checkpoint's configuration describes (v1/v2 head, v3 projector, or no head
         * for imported encoder-only files without {@code fc} tensors) and strictly loaded, in {@code manager}.
         */
        public Encoder openQueryEncoder(NDManager manager) {
            boolean hasHead = contents.tensors().keySet().stream().anyMatch(k -> k.startsWith(Q + Encoders.headPrefix(config)));
            Encoder encoder = hasHead ? Encoders.create(config, manager, 0) : Encoders.backbone(config, manager, 0);
            try (NDManager tmp = manager.newSubManager()) {
                encoder.loadStateDict(queryEncoder(tmp), true);
                return encoder;
            } catch (RuntimeException e) {
                encoder.close();
                throw e;
            }
        }

        @Override
        public NDArray queue(NDManager manager) {
            return TensorArchive.toNDArray(contents.tensor(QUEUE), manager);
        }

        @Override
        public Map<String, NDArray> tensors(String prefix, NDManager manager) {
            Map<String, NDArray> out = new LinkedHashMap<>();
            for (Map.Entry<String, NpyArray> e : contents.tensors().entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    out.put(e.getKey().substring(prefix.length()), TensorArchive.toNDArray(e.getValue(), manager));
                }
            }
            return out;
        }

        /**
         * The float16 loss scaler's state ({@link LossScaler#stateDict()}, GradScaler's keys) when the run trained in
         * fp16 or was imported from a main_moco.py file that had one; null otherwise.
         */
        public Map<String, Object> scalerState() {
            try {
                JsonNode s = JSON.readTree(contents.metaJson()).path(SCALER);
                if (!s.isObject() || s.isEmpty()) {
                    return null;
                }
                Map<String, Object> out = new LinkedHashMap<>();
                s.fields().forEachRemaining(e -> out.put(e.getKey(),
                        e.getValue().isIntegralNumber() ? (Object) e.getValue().asLong() : (Object) e.getValue().asDouble()));
                return out;
            } catch (IOException e) {
                throw new UserException("checkpoint " + file + " has unreadable metadata; it is damaged, use another checkpoint");
            }
        }

        public Map<String, NDArray> queryEncoder(NDManager manager) {
            Map<String, NDArray> t = tensors(Q, manager);
            if (t.isEmpty()) {
                throw new UserException("checkpoint " + file + " holds no query encoder; it is not a MoCo4J pretraining checkpoint");
            }
            return t;
        }
    }

    /**
     * Saves a pretraining state: every network of the method under its prefix ({@code encoder_q.}, {@code encoder_k.},
     * v3's {@code predictor.}), its extra state (v1/v2's {@code queue}), the optimizer's state under
     * {@code optimizer.} and the metadata, which records the MoCo version so every command knows what it reads.
     */
    public static void save(Path file, MocoConfig config, MomentumContrast moco, Optimizer optimizer, TrainingProgress progress)
            throws IOException {
        save(file, config, moco, optimizer, progress, null, null);
    }

    /** As above, with the fp16 loss scaler's state in the metadata ({@code scaler}; none when {@code scaler} is null). */
    public static void save(Path file, MocoConfig config, MomentumContrast moco, Optimizer optimizer, TrainingProgress progress,
                            LossScaler scaler) throws IOException {
        save(file, config, moco, optimizer, progress, null, scaler);
    }

    /**
     * As {@link #save(Path, MocoConfig, MomentumContrast, Optimizer, TrainingProgress)} with where the run's first weights
     * came from ({@code origin}, may be null) and the fp16 loss scaler (may be null) in the metadata.
     */
    public static void save(Path file, MocoConfig config, MomentumContrast moco, Optimizer optimizer, TrainingProgress progress,
                            ObjectNode origin, LossScaler scaler) throws IOException {
        save(file, config, moco, optimizer, progress, origin, scaler, Map.of());
    }

    /**
     * As above, with the state of monitors trained beside the model ({@code probe}: the online probe's tensors, saved
     * under {@link #ONLINE_PROBE}; empty for none).
     */
    public static void save(Path file, MocoConfig config, MomentumContrast moco, Optimizer optimizer, TrainingProgress progress,
                            ObjectNode origin, LossScaler scaler, Map<String, NDArray> probe) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        moco.networks().forEach((prefix, net) -> put(tensors, prefix, net));
        tensors.putAll(moco.extraState());
        optimizer.state().forEach((name, buffer) -> tensors.put(OPTIMIZER + name, buffer));
        probe.forEach((name, t) -> tensors.put(ONLINE_PROBE + name, t));
        int queuePointer = moco.counters().getOrDefault(MocoV1V2.QUEUE_POINTER, 0L).intValue();
        TensorArchive.write(file, metaJson(config, Kind.PRETRAINING, progress, queuePointer, optimizer.stepCount(), origin,
                moco.collectives().size(), scaler == null ? null : scaler.stateDict(), moco.precision().label()), tensors);
    }

    /**
     * Writes a checkpoint from tensors named as {@link #save} names them: {@code encoder_q.*}, and for a
     * pretraining checkpoint also {@code encoder_k.*}, {@code queue} (K, dim) and {@code optimizer.<parameter>}.
     *
     * @param origin extra metadata stored under {@code "origin"} (e.g. where imported weights came from), may be null
     */
    public static void write(Path file, MocoConfig config, Kind kind, Map<String, NDArray> tensors, TrainingProgress progress,
                             int queuePointer, long optimizerSteps, ObjectNode origin) throws IOException {
        requireKind(kind, tensors.keySet());
        TensorArchive.write(file, metaJson(config, kind, progress, queuePointer, optimizerSteps, origin), tensors);
    }

    /** As {@link #write}, straight from host tensors (imports of large PyTorch files: no second copy in memory). */
    public static void writeHost(Path file, MocoConfig config, Kind kind, Map<String, HostTensor> tensors,
                                 TrainingProgress progress, int queuePointer, long optimizerSteps, ObjectNode origin)
            throws IOException {
        writeHost(file, config, kind, tensors, progress, queuePointer, optimizerSteps, origin, null);
    }

    /** As above, with a loss scaler's state ({@link LossScaler#stateDict()} keys) in the metadata when not null. */
    public static void writeHost(Path file, MocoConfig config, Kind kind, Map<String, HostTensor> tensors,
                                 TrainingProgress progress, int queuePointer, long optimizerSteps, ObjectNode origin,
                                 Map<String, Object> scalerState) throws IOException {
        requireKind(kind, tensors.keySet());
        TensorArchive.writeHost(file, metaJson(config, kind, progress, queuePointer, optimizerSteps, origin, 1, scalerState, null),
                tensors);
    }

    private static void requireKind(Kind kind, java.util.Set<String> names) {
        if (!names.stream().allMatch(k -> k.startsWith(Q) || kind == Kind.PRETRAINING)) {
            throw new IllegalArgumentException("an encoder checkpoint holds encoder_q.* tensors only");
        }
    }

    private static String metaJson(MocoConfig config, Kind kind, TrainingProgress progress, int queuePointer,
                                   long optimizerSteps, ObjectNode origin) throws IOException {
        return metaJson(config, kind, progress, queuePointer, optimizerSteps, origin, 1, null, null);
    }

    /**
     * @param ranks processes of the run (resuming on another count is checked by {@link RankChange})
     * @param precision the forward passes' precision the run trained in (resolved, never auto), or null
     */
    private static String metaJson(MocoConfig config, Kind kind, TrainingProgress progress, int queuePointer,
                                   long optimizerSteps, ObjectNode origin, int ranks, Map<String, Object> scalerState,
                                   String precision) throws IOException {
        ObjectNode meta = JSON.createObjectNode();
        meta.put("format", FORMAT);
        meta.put("version", VERSION);
        meta.put("kind", kind.metaValue());
        meta.put("method", "moco");
        meta.put("moco_version", config.version());
        meta.put("epoch", progress.epoch());
        meta.put("step_in_epoch", progress.stepInEpoch());
        meta.put("global_step", progress.globalStep());
        meta.put("elapsed_seconds", progress.elapsedSeconds());
        meta.put("queue_ptr", queuePointer);
        meta.put("optimizer_steps", optimizerSteps);
        meta.put("ranks", ranks);
        if (precision != null) {
            meta.put("precision", precision);
        }
        meta.put("saved_at", Instant.now().toString());
        meta.put("config", ConfigLoader.toYaml(config));
        if (origin != null) {
            meta.set("origin", origin);
        }
        if (scalerState != null) {
            meta.set(SCALER, JSON.valueToTree(scalerState));
        }
        return JSON.writeValueAsString(meta);
    }

    public static Loaded load(Path file) {
        return parse(file, TensorArchive.read(file));
    }

    /** A checkpoint's metadata and configuration only; its tensors are not read (empty in the result). */
    public static Loaded loadMetadata(Path file) {
        return parse(file, TensorArchive.readMeta(file));
    }

    private static Loaded parse(Path file, TensorArchive.Contents contents) {
        JsonNode meta;
        try {
            meta = JSON.readTree(contents.metaJson());
        } catch (IOException e) {
            throw new UserException("checkpoint " + file + " has unreadable metadata; it is damaged, use another checkpoint");
        }
        if (!FORMAT.equals(meta.path("format").asText())) {
            throw new UserException("checkpoint " + file + " is not a MoCo4J checkpoint; convert PyTorch files with ./moco4j import");
        }
        if (meta.path("version").asInt() > VERSION) {
            throw new UserException("checkpoint " + file + " is format version " + meta.path("version").asInt()
                    + ", newer than this MoCo4J understands (" + VERSION + "); upgrade MoCo4J");
        }
        MocoConfig config = ConfigLoader.fromYaml(meta.path("config").asText());
        TrainingProgress progress = new TrainingProgress(meta.path("epoch").asInt(), meta.path("step_in_epoch").asInt(),
                meta.path("global_step").asLong(), meta.path("elapsed_seconds").asDouble());
        return new Loaded(file, config, progress, meta.path("queue_ptr").asInt(), meta.path("optimizer_steps").asLong(), contents,
                Kind.of(meta, file), Math.max(1, meta.path("ranks").asInt(1)));
    }

    private static void put(Map<String, NDArray> into, String prefix, Network net) {
        net.stateDict().forEach((k, v) -> into.put(prefix + k, v));
    }
}
