package io.moco4j.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The records of a run's {@code metrics.jsonl} (format in docs/ARCHITECTURE.md): step records and epoch
 * records, in file order. Numbers a record lacks are NaN. A damaged last line (a run killed while
 * writing) is skipped with a warning; a damaged line elsewhere is an error.
 */
public record RunMetrics(Path file, List<Step> steps, List<Epoch> epochs, List<ProbeEpoch> probeEpochs) {
    private static final Logger LOG = LoggerFactory.getLogger(RunMetrics.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One {@code "type":"step"} record. */
    public record Step(int epoch, long step, double loss, double acc1, double acc5, double lr, double imgPerSec, double time) {}

    /** One {@code "type":"epoch"} record; {@code epoch} is 0-based; {@code probeTop1} is the online probe's (NaN if none). */
    public record Epoch(int epoch, double loss, double acc1, double acc5, double lr, double epochSeconds,
                        double elapsedSeconds, double knnTop1, double knnTop5, double probeTop1) {
        public Epoch(int epoch, double loss, double acc1, double acc5, double lr, double epochSeconds,
                     double elapsedSeconds, double knnTop1, double knnTop5) {
            this(epoch, loss, acc1, acc5, lr, epochSeconds, elapsedSeconds, knnTop1, knnTop5, Double.NaN);
        }

        public boolean hasKnn() {
            return !Double.isNaN(knnTop1);
        }

        public boolean hasProbe() {
            return !Double.isNaN(probeTop1);
        }
    }

    /** One {@code "type":"lincls_epoch"} record of a linear probe run ({@link LinearProbe}). */
    public record ProbeEpoch(int epoch, double lr, double trainLoss, double trainTop1, double valLoss, double valTop1,
                             double valTop5, double epochSeconds) {}

    /** Reads {@code runDir/metrics.jsonl}, or the file itself if a file is given. */
    public static RunMetrics read(Path runDirOrFile) {
        Path file = Files.isDirectory(runDirOrFile) ? runDirOrFile.resolve("metrics.jsonl") : runDirOrFile;
        if (!Files.isRegularFile(file)) {
            throw new UserException("no metrics file at " + file + "; pass a run directory written by 'moco4j pretrain --out DIR'");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check the path and its permissions", e);
        }
        int last = lines.size() - 1;
        while (last >= 0 && lines.get(last).isBlank()) {
            last--;
        }
        List<Step> steps = new ArrayList<>();
        List<Epoch> epochs = new ArrayList<>();
        List<ProbeEpoch> probe = new ArrayList<>();
        for (int i = 0; i <= last; i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                node = null;
            }
            if (node == null || !node.isObject()) {
                if (i == last) {
                    LOG.warn("{} line {} is incomplete (the run was probably stopped while writing); ignoring it", file, i + 1);
                    continue;
                }
                throw new UserException(file + " line " + (i + 1) + " is not a JSON object; the metrics log is damaged: fix or delete that line");
            }
            String type = node.path("type").asText("");
            switch (type) {
                case "step" -> steps.add(new Step(node.path("epoch").asInt(0), node.path("step").asLong(steps.size()),
                        num(node, "loss"), num(node, "acc1"), num(node, "acc5"), num(node, "lr"), num(node, "img_per_s"), num(node, "time")));
                case "epoch" -> epochs.add(new Epoch(node.path("epoch").asInt(epochs.size()), num(node, "loss"), num(node, "acc1"),
                        num(node, "acc5"), num(node, "lr"), num(node, "epoch_seconds"), num(node, "elapsed_seconds"),
                        num(node, "knn_top1"), num(node, "knn_top5"), num(node, "probe_top1")));
                case "lincls_epoch" -> probe.add(new ProbeEpoch(node.path("epoch").asInt(probe.size()), num(node, "lr"),
                        num(node, "train_loss"), num(node, "train_top1"), num(node, "val_loss"), num(node, "val_top1"),
                        num(node, "val_top5"), num(node, "epoch_seconds")));
                default -> { } // other record types (e.g. notes, resume markers) are not charted
            }
        }
        if (steps.isEmpty() && epochs.isEmpty() && probe.isEmpty()) {
            throw new UserException(file + " has no step or epoch records; it is not a MoCo4J metrics log or the run logged nothing yet");
        }
        return new RunMetrics(file, List.copyOf(steps), List.copyOf(epochs), List.copyOf(probe));
    }

    private static double num(JsonNode node, String key) {
        JsonNode v = node.get(key);
        return v != null && v.isNumber() ? v.asDouble() : Double.NaN;
    }

    /**
     * One record per epoch, the last one written for it (a resumed run repeats the epochs it redoes),
     * in epoch order.
     */
    public List<Epoch> epochsLatest() {
        java.util.TreeMap<Integer, Epoch> byEpoch = new java.util.TreeMap<>();
        for (Epoch e : epochs) {
            byEpoch.put(e.epoch(), e);
        }
        return List.copyOf(byEpoch.values());
    }

    /** {@link #epochsLatest()} restricted to the epochs that carry the online probe's accuracy. */
    public List<Epoch> probeEpochsLatest() {
        return epochsLatest().stream().filter(Epoch::hasProbe).toList();
    }

    /** {@link #epochsLatest()} restricted to the epochs that carry kNN accuracy. */
    public List<Epoch> knnEpochsLatest() {
        return epochsLatest().stream().filter(Epoch::hasKnn).toList();
    }
}
