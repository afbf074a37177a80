package io.moco4j.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.io.TensorArchive;
import io.moco4j.model.Network;
import io.moco4j.optim.Sgd;
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
 */
public final class Checkpoints {
    public static final String FORMAT = "moco4j-checkpoint";
    public static final int VERSION = 1;
    static final String Q = "encoder_q.";
    static final String K = "encoder_k.";
    static final String QUEUE = "queue";
    static final String OPTIMIZER = "optimizer.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoints() {}

    /** A checkpoint read from disk, before its tensors are put anywhere. */
    public record Loaded(Path file, MocoConfig config, TrainingProgress progress, int queuePointer, long optimizerSteps,
                         TensorArchive.Contents contents) {

        /** The tensors under {@code prefix} (e.g. {@code encoder_q.}) with the prefix removed, in {@code manager}. */
        public Map<String, NDArray> tensors(String prefix, NDManager manager) {
            Map<String, NDArray> out = new LinkedHashMap<>();
            for (Map.Entry<String, NpyArray> e : contents.tensors().entrySet()) {
                if (e.getKey().startsWith(prefix)) {
                    out.put(e.getKey().substring(prefix.length()), TensorArchive.toNDArray(e.getValue(), manager));
                }
            }
            return out;
        }

        public Map<String, NDArray> queryEncoder(NDManager manager) {
            Map<String, NDArray> t = tensors(Q, manager);
            if (t.isEmpty()) {
                throw new UserException("checkpoint " + file + " holds no query encoder; it is not a MoCo4J pretraining checkpoint");
            }
            return t;
        }
    }

    public static void save(Path file, MocoConfig config, MomentumContrast moco, Sgd sgd, TrainingProgress progress)
            throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        put(tensors, Q, moco.encoderQ());
        put(tensors, K, moco.encoderK());
        tensors.put(QUEUE, moco.queue().keys());
        sgd.state().forEach((name, buffer) -> tensors.put(OPTIMIZER + name, buffer));

        ObjectNode meta = JSON.createObjectNode();
        meta.put("format", FORMAT);
        meta.put("version", VERSION);
        meta.put("epoch", progress.epoch());
        meta.put("step_in_epoch", progress.stepInEpoch());
        meta.put("global_step", progress.globalStep());
        meta.put("elapsed_seconds", progress.elapsedSeconds());
        meta.put("queue_ptr", moco.queue().pointer());
        meta.put("optimizer_steps", sgd.stepCount());
        meta.put("saved_at", Instant.now().toString());
        meta.put("config", ConfigLoader.toYaml(config));
        TensorArchive.write(file, JSON.writeValueAsString(meta), tensors);
    }

    public static Loaded load(Path file) {
        TensorArchive.Contents contents = TensorArchive.read(file);
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
        return new Loaded(file, config, progress, meta.path("queue_ptr").asInt(), meta.path("optimizer_steps").asLong(), contents);
    }

    private static void put(Map<String, NDArray> into, String prefix, Network net) {
        net.stateDict().forEach((k, v) -> into.put(prefix + k, v));
    }
}
