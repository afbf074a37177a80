package io.moco4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.zip.ZipFile;

/**
 * Chooses the checkpoint a {@code --resume} continues from: {@code last.ckpt} when it is intact, else the
 * newest intact periodic {@code epoch_NNNN.ckpt} beside it, so a damaged last checkpoint (a disk error, a
 * copy cut short) costs one checkpoint period instead of the run. The fallback is announced with the file
 * used and the number of steps that will be trained again.
 */
public final class ResumeCandidates {
    private static final Pattern PERIODIC = Pattern.compile("epoch_(\\d+)\\.ckpt");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The checkpoint chosen, what was passed over (one "file (reason)" each) and the steps to redo (-1 unknown). */
    public record Choice(Checkpoints.Loaded checkpoint, List<String> skipped, long stepsRedone) {
        public boolean fellBack() {
            return !skipped.isEmpty();
        }

        /** The one-line notice of a fallback, or an empty string when {@code last.ckpt} was used. */
        public String notice() {
            if (!fellBack()) {
                return "";
            }
            TrainingProgress p = checkpoint.progress();
            return String.format(Locale.ROOT, "Warning: %s; resuming from %s instead (epoch %d, step %d, global step %d)%s.",
                    String.join("; ", skipped), checkpoint.file().getFileName(), p.epoch() + 1, p.stepInEpoch(), p.globalStep(),
                    stepsRedone < 0 ? ", the steps after it will be trained again"
                            : stepsRedone == 0 ? ", no logged step is lost"
                            : ", so " + stepsRedone + " logged step" + (stepsRedone == 1 ? "" : "s") + " will be trained again");
        }
    }

    private ResumeCandidates() {}

    /** {@code last.ckpt} first, then the periodic checkpoints, newest first; only files that exist. */
    public static List<Path> newestFirst(RunDirectory dir) {
        List<Path> out = new ArrayList<>();
        if (Files.isRegularFile(dir.lastCheckpoint())) {
            out.add(dir.lastCheckpoint());
        }
        List<Path> periodic = new ArrayList<>();
        if (Files.isDirectory(dir.checkpoints())) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir.checkpoints(), "epoch_*.ckpt")) {
                for (Path f : files) {
                    if (PERIODIC.matcher(f.getFileName().toString()).matches() && Files.isRegularFile(f)) {
                        periodic.add(f);
                    }
                }
            } catch (IOException e) {
                throw new UserException("cannot list " + dir.checkpoints() + " (" + e.getMessage() + "); check its permissions");
            }
        }
        periodic.sort(Comparator.comparingLong(ResumeCandidates::epochOf).reversed());
        out.addAll(periodic);
        return out;
    }

    /**
     * The newest checkpoint whose tensors and metadata read back intact (entry CRCs checked) and whose zip
     * directory at the end is complete (the streaming read alone would accept a file cut short there).
     */
    public static Choice newestIntact(RunDirectory dir) {
        return choose(dir, f -> {
            Checkpoints.Loaded loaded = Checkpoints.load(f);
            try (ZipFile zip = new ZipFile(f.toFile())) {
                if (zip.getEntry(io.moco4j.io.TensorArchive.META) == null) {
                    throw new UserException("its zip directory lists no meta.json");
                }
            } catch (IOException e) {
                throw new UserException("its zip directory is missing or cut short: " + e.getMessage());
            }
            return loaded;
        });
    }

    /** The newest checkpoint whose metadata reads back (its tensors are not read; for the stored settings). */
    public static Choice newestWithMetadata(RunDirectory dir) {
        return choose(dir, Checkpoints::loadMetadata);
    }

    /** {@link #newestIntact}, printing the fallback notice to {@code out} when it had to pass over a file. */
    public static Checkpoints.Loaded load(RunDirectory dir, PrintStream out) {
        removeStaleTemporaries(dir);
        Choice c = newestIntact(dir);
        if (c.fellBack()) {
            out.println(c.notice());
        }
        return c.checkpoint();
    }

    /**
     * Temporary files of checkpoint writes cut short by a kill ({@code .last.ckpt.NNN.tmp}, see io.AtomicFiles):
     * never read, so removed before resuming instead of piling up one per kill.
     */
    static void removeStaleTemporaries(RunDirectory dir) {
        if (!Files.isDirectory(dir.checkpoints())) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir.checkpoints(), ".*.ckpt.*.tmp")) {
            for (Path f : files) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            // harmless leftovers; resuming does not depend on removing them
        }
    }

    static Choice choose(RunDirectory dir, Function<Path, Checkpoints.Loaded> reader) {
        List<Path> files = newestFirst(dir);
        if (files.isEmpty()) {
            throw new UserException("nothing to resume in " + dir.root() + ": " + dir.lastCheckpoint()
                    + " does not exist; start a new run without --resume");
        }
        List<String> skipped = new ArrayList<>();
        for (Path f : files) {
            try {
                Checkpoints.Loaded loaded = reader.apply(f);
                return new Choice(loaded, List.copyOf(skipped), skipped.isEmpty() ? 0 : stepsRedone(dir, loaded));
            } catch (UserException | OutOfMemoryError | IllegalArgumentException | IllegalStateException e) {
                skipped.add(f.getFileName() + " is damaged (" + e.getMessage() + ")");
            }
        }
        throw new UserException("no intact checkpoint to resume in " + dir.checkpoints() + " (" + String.join("; ", skipped)
                + "); start a new run without --resume");
    }

    /** Logged steps after {@code from}: the highest global step in metrics.jsonl minus the checkpoint's, or -1. */
    static long stepsRedone(RunDirectory dir, Checkpoints.Loaded from) {
        if (!Files.isRegularFile(dir.metrics())) {
            return -1;
        }
        long max = -1;
        try (var lines = Files.lines(dir.metrics())) {
            for (String line : (Iterable<String>) lines::iterator) {
                try {
                    JsonNode n = JSON.readTree(line);
                    if ("step".equals(n.path("type").asText())) {
                        max = Math.max(max, n.path("step").asLong());
                    }
                } catch (IOException e) {
                    // a line cut short by the crash: ignore it
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            return -1;
        }
        return max < 0 ? -1 : Math.max(0, max - from.progress().globalStep());
    }

    private static long epochOf(Path f) {
        var m = PERIODIC.matcher(f.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }
}
