package io.moco4j.train;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** The files of one pretraining run (layout in docs/ARCHITECTURE.md). */
public record RunDirectory(Path root) {

    public static RunDirectory of(Path root) {
        return new RunDirectory(root);
    }

    public Path config() {
        return root.resolve("config.yaml");
    }

    public Path metrics() {
        return root.resolve("metrics.jsonl");
    }

    public Path checkpoints() {
        return root.resolve("checkpoints");
    }

    public Path lastCheckpoint() {
        return checkpoints().resolve("last.ckpt");
    }

    /** The periodic checkpoint taken after {@code epochsDone} epochs. */
    public Path epochCheckpoint(int epochsDone) {
        return checkpoints().resolve(String.format(Locale.ROOT, "epoch_%04d.ckpt", epochsDone));
    }

    /** Creates the folder for a new run, refusing to mix two runs in one folder. */
    public void createNew() {
        if (Files.exists(lastCheckpoint()) || Files.exists(metrics())) {
            throw new UserException("run directory " + root + " already holds a run; add --resume to continue it or choose another --out");
        }
        try {
            Files.createDirectories(checkpoints());
        } catch (IOException e) {
            throw new UserException("cannot create run directory " + root + " (" + e.getMessage() + "); choose a writable --out");
        }
    }

}
