package io.moco4j.index;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts the encoder's embeddings into a {@link VectorIndexWriter} in the index's vector space: as they are, through
 * the PCA the index already has, or through a PCA fitted here from the first {@code fitRows} embeddings, which are
 * held (raw) until the fit and then written. While it holds rows nothing may be committed ({@link #holding()}),
 * so a commit never publishes an index without the projection its vectors went through.
 */
final class ProjectingSink {
    private static final Logger LOG = LoggerFactory.getLogger(ProjectingSink.class);
    static final String FILE = "pca.file";
    static final String SHA = "pca.sha256";
    static final String COMPONENTS = "pca.components";
    static final String INPUT_DIMENSION = "pca.input_dimension";
    static final String FIT_ROWS = "pca.fit_rows";

    private record Held(String key, long size, long mtime, String label, float[] raw) {}

    private final VectorIndexWriter writer;
    private final Path folder;
    private final int fitComponents;
    private final int fitRows;
    private final List<Held> held = new ArrayList<>();
    private final Map<String, String> metadata = new HashMap<>();
    private PcaProjection pca;

    /**
     * @param existing the projection the index already has (null: none, or {@code fitComponents} > 0 to fit one)
     * @param fitComponents components of a new fit; 0 when the vectors go in as they are or through {@code existing}
     * @param fitRows embeddings the fit uses (the first ones put)
     */
    ProjectingSink(VectorIndexWriter writer, Path folder, PcaProjection existing, Map<String, String> existingMetadata,
                   int fitComponents, int fitRows) {
        this.writer = writer;
        this.folder = folder;
        this.pca = existing;
        this.fitComponents = existing == null ? fitComponents : 0;
        this.fitRows = Math.max(1, fitRows);
        if (existing != null) {
            for (String k : List.of(FILE, SHA, COMPONENTS, INPUT_DIMENSION, FIT_ROWS)) {
                metadata.put(k, existingMetadata.get(k));
            }
        }
    }

    /** The projection of an index's last commit, or null when it has none. */
    static PcaProjection stored(Path folder, Map<String, String> metadata) {
        String file = metadata == null ? null : metadata.get(FILE);
        return file == null ? null : PcaProjection.read(folder.resolve(file), metadata.get(SHA));
    }

    void put(String key, long size, long mtime, String label, float[] raw) {
        if (pca == null && fitComponents > 0) {
            held.add(new Held(key, size, mtime, label, raw));
            if (held.size() >= fitRows) {
                fitAndWriteHeld();
            }
        } else {
            writer.put(key, size, mtime, label, pca == null ? raw : pca.projectUnit(raw));
        }
    }

    /** True while rows wait for the fit: no commit until {@link #flush()}. */
    boolean holding() {
        return !held.isEmpty();
    }

    /** Fits on what is held (fewer rows than asked for: a small folder) and writes it. */
    void flush() {
        if (!held.isEmpty()) {
            fitAndWriteHeld();
        }
    }

    /** The pca.* entries a commit must carry (empty without a projection). */
    Map<String, String> metadata() {
        return Map.copyOf(metadata);
    }

    PcaProjection projection() {
        return pca;
    }

    private void fitAndWriteHeld() {
        if (held.size() <= fitComponents) {
            LOG.warn("fitting a {}-component PCA on {} embeddings: the components beyond the data's rank are arbitrary;"
                    + " index more images or ask for fewer components", fitComponents, held.size());
        }
        long t0 = System.nanoTime();
        PcaProjection fitted = PcaProjection.fitUnit(held.stream().map(Held::raw).toList(), fitComponents);
        String name = String.format(Locale.ROOT, "pca-%d-%d.bin", fitComponents, System.currentTimeMillis());
        String sha;
        try {
            sha = fitted.write(folder.resolve(name));
        } catch (IOException e) {
            throw new UserException("cannot write the PCA projection into " + folder + " (" + e.getMessage()
                    + "); check the free space and run again");
        }
        double kept = 0;
        for (int k = 0; k < fitted.outputDimension(); k++) {
            kept += fitted.variance(k);
        }
        LOG.info("PCA {} -> {} dimensions fitted on {} embeddings in {} s (variance of the kept components: {})",
                fitted.inputDimension(), fitComponents, held.size(), String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9),
                String.format(Locale.ROOT, "%.4f", kept));
        pca = fitted;
        metadata.put(FILE, name);
        metadata.put(SHA, sha);
        metadata.put(COMPONENTS, Integer.toString(fitComponents));
        metadata.put(INPUT_DIMENSION, Integer.toString(fitted.inputDimension()));
        metadata.put(FIT_ROWS, Integer.toString(held.size()));
        for (Held h : held) {
            writer.put(h.key(), h.size(), h.mtime(), h.label(), pca.projectUnit(h.raw()));
        }
        held.clear();
    }
}
