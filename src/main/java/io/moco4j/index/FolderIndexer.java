package io.moco4j.index;

import io.moco4j.api.Encoder;
import io.moco4j.data.ImageDecoder;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ImageFolderDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings a {@link LuceneVectorIndex} in line with a folder of images: files new to the index or changed since (by
 * size and modification time, as the serve cache does) are embedded and added, files gone from the folder are
 * removed, the rest is left alone. Changes are committed every {@code commitEvery} images, so a run that is
 * stopped or crashes keeps what was committed and the next run continues from there.
 */
public final class FolderIndexer {
    private static final Logger LOG = LoggerFactory.getLogger(FolderIndexer.class);
    /** Memory for buffered documents before Lucene flushes a segment. */
    private static final double RAM_BUFFER_MB = 256;

    /** Which encoder made the vectors; an index only ever holds vectors of one. */
    public record Origin(Path checkpoint, String checkpointSha256, String features) {}

    /** What one run did. */
    public record Result(int added, int changed, int removed, int unchanged, int skipped, int rows) {}

    /** Receives progress: images embedded so far of those to embed. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total);
    }

    private FolderIndexer() {}

    /**
     * Updates (or creates) the index in {@code out} from {@code images}.
     *
     * @param rebuild re-embed every image into a fresh index (the old one stays readable until the first commit)
     * @throws UserException when the index was made by another checkpoint, features or folder (and not {@code rebuild})
     */
    public static Result sync(Path images, Path out, Encoder encoder, Origin origin, IndexSettings settings,
                              boolean rebuild, int commitEvery, Progress progress) {
        return sync(images, out, encoder, origin, settings, 0, rebuild, commitEvery, progress);
    }

    /**
     * As {@link #sync(Path, Path, Encoder, Origin, IndexSettings, boolean, int, Progress)}, projecting the
     * embeddings on their first {@code pca} principal components (0: none). A new index (or {@code rebuild}) fits
     * the PCA on up to {@link PcaProjection#MAX_FIT_ROWS} of its images, drawn at random with a fixed seed, and stores
     * it beside the index; later runs reuse the stored one, as {@link LuceneVectorIndex} does for queries.
     */
    public static Result sync(Path images, Path out, Encoder encoder, Origin origin, IndexSettings settings, int pca,
                              boolean rebuild, int commitEvery, Progress progress) {
        if (pca < 0) {
            throw new UserException("--pca " + pca + " is not valid; use a number of components, e.g. --pca 256");
        }
        Path root = realFolder(images);
        Listing listing = list(root);
        Map<String, String> existing = Files.isDirectory(out) && !rebuild ? VectorIndexWriter.committedMetadata(out) : null;
        IndexSettings effective = settings;
        if (existing != null) {
            requireSame(existing, "checkpoint.sha256", origin.checkpointSha256(), "checkpoint", out);
            requireSame(existing, "features", origin.features(), "--features", out);
            requireSame(existing, "images", root.toString(), "image folder", out);
            effective = IndexSettings.fromUserData(existing);
            if (!effective.equals(settings)) {
                LOG.info("the index keeps the settings it was built with ({}); --rebuild applies new ones", effective);
            }
        }
        PcaProjection stored = existing == null ? null : ProjectingSink.stored(out, existing);
        int fit = 0;
        if (existing != null) {
            int had = stored == null ? 0 : stored.outputDimension();
            if (pca > 0 && pca != had) {
                LOG.info("the index keeps the projection it was built with ({}); --rebuild applies --pca {}",
                        had == 0 ? "none" : "PCA to " + had + " dimensions", pca);
            }
        } else if (pca > 0) {
            if (pca >= encoder.dimension()) {
                throw new UserException("--pca " + pca + " is not below the " + encoder.dimension() + "-d embeddings; use 1.."
                        + (encoder.dimension() - 1) + " or leave --pca out");
            }
            fit = pca;
        }
        int indexDim = stored != null ? stored.outputDimension() : fit > 0 ? fit : encoder.dimension();
        Map<String, VectorIndexWriter.Entry> committed = existing == null ? Map.of() : VectorIndexWriter.committedEntries(out);
        List<Integer> toEmbed = new ArrayList<>();
        int unchanged = 0;
        int changed = 0;
        for (int i = 0; i < listing.paths.size(); i++) {
            VectorIndexWriter.Entry had = committed.get(listing.paths.get(i));
            if (had == null) {
                toEmbed.add(i);
            } else if (had.size() != listing.sizes.get(i) || had.mtime() != listing.mtimes.get(i)) {
                toEmbed.add(i);
                changed++;
            } else {
                unchanged++;
            }
        }
        if (fit > 0) {
            // the PCA is fitted on the first rows embedded: shuffled (fixed seed), they are a uniform sample of the
            // folder rather than its first classes
            java.util.Collections.shuffle(toEmbed, new java.util.Random(17));
        }
        List<String> changedPaths = new ArrayList<>();
        for (int i : toEmbed) {
            if (committed.containsKey(listing.paths.get(i))) {
                changedPaths.add(listing.paths.get(i));
            }
        }
        Set<String> present = new HashSet<>(listing.paths);
        List<String> gone = committed.keySet().stream().filter(p -> !present.contains(p)).sorted().toList();
        Map<String, String> metadata = new HashMap<>();
        metadata.put("moco4j.index_format", "1");
        metadata.put("checkpoint.sha256", origin.checkpointSha256());
        metadata.put("checkpoint.path", origin.checkpoint().toAbsolutePath().toString());
        metadata.put("features", origin.features());
        metadata.put("images", root.toString());
        metadata.put("similarity", "cosine (unit vectors, Lucene DOT_PRODUCT)");
        int[] skipped = {0};
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UserException("cannot create " + out + " (" + e.getMessage() + "); pick another --out");
        }
        try (VectorIndexWriter writer = VectorIndexWriter.open(out, effective, indexDim, RAM_BUFFER_MB, rebuild)) {
            ProjectingSink sink = new ProjectingSink(writer, out, stored, existing, fit, PcaProjection.MAX_FIT_ROWS);
            gone.forEach(writer::delete);
            changedPaths.forEach(writer::delete); // a changed file that no longer decodes must not keep its old vector
            int[] sinceCommit = {0};
            int[] done = {0};
            Subset subset = new Subset(listing, toEmbed);
            if (!toEmbed.isEmpty()) {
                encoder.embedReadable(subset, (indices, batch) -> {
                    int rows = indices.length;
                    float[] flat = batch.toFloatArray();
                    int d = flat.length / rows;
                    for (int r = 0; r < rows; r++) {
                        int i = toEmbed.get(indices[r]);
                        float[] v = new float[d];
                        System.arraycopy(flat, r * d, v, 0, d);
                        sink.put(listing.paths.get(i), listing.sizes.get(i), listing.mtimes.get(i), listing.labels.get(i), v);
                    }
                    done[0] = indices[rows - 1] + 1;
                    sinceCommit[0] += rows;
                    if (sinceCommit[0] >= commitEvery && !sink.holding()) { // no commit before the PCA is fitted
                        writer.commit(withPca(metadata, sink));
                        sinceCommit[0] = 0;
                    }
                    progress.update(done[0], toEmbed.size());
                }, failure -> {
                    skipped[0]++;
                    LOG.warn("skipping unreadable image {}", failure);
                });
            }
            sink.flush();
            if (fit > 0 && sink.projection() == null) {
                throw new UserException("none of the " + toEmbed.size() + " images of " + root + " could be read, so no PCA"
                        + " could be fitted; point --images at a folder of readable images");
            }
            writer.commit(withPca(metadata, sink));
            removeOtherProjections(out, sink.metadata().get(ProjectingSink.FILE));
        }
        int rows = listing.paths.size() - skipped[0];
        return new Result(toEmbed.size() - changed - skipped[0], changed, gone.size(), unchanged, skipped[0], rows);
    }

    private static Map<String, String> withPca(Map<String, String> metadata, ProjectingSink sink) {
        Map<String, String> all = new HashMap<>(metadata);
        all.putAll(sink.metadata());
        return all;
    }

    /** Deletes PCA files of earlier builds (after a --rebuild's commit no commit names them any more). */
    private static void removeOtherProjections(Path out, String current) {
        try (var files = Files.newDirectoryStream(out, "pca-*.bin*")) {
            for (Path f : files) {
                if (!f.getFileName().toString().equals(current)) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            LOG.warn("could not remove old PCA files in {} ({})", out, e.getMessage());
        }
    }

    private static void requireSame(Map<String, String> meta, String key, String now, String what, Path out) {
        String had = meta.get(key);
        if (!Objects.equals(had, now)) {
            throw new UserException("the index in " + out + " was built with another " + what + " (" + shorten(had) + ", now "
                    + shorten(now) + "); add --rebuild to re-embed every image, or pick another --out");
        }
    }

    private static String shorten(String s) {
        return s == null ? "none" : s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    static Path realFolder(Path images) {
        try {
            return images.toRealPath();
        } catch (IOException e) {
            throw new UserException(images + " does not exist or cannot be read; point --images at a folder of images");
        }
    }

    /** The folder's images (inside the folder itself, links resolved), with size, modification time and class. */
    private static Listing list(Path root) {
        ImageFolderDataset scanned = ImageFolderDataset.open(root, false, false);
        Listing l = new Listing();
        for (int i = 0; i < scanned.size(); i++) {
            Path file = scanned.path(i);
            try {
                Path real = file.toRealPath();
                if (!real.startsWith(root) || !Files.isRegularFile(real)) {
                    continue; // a link out of the folder is never indexed (serve would not hand it out)
                }
                BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
                l.paths.add(root.relativize(file).toString().replace('\\', '/'));
                l.files.add(real);
                l.sizes.add(a.size());
                l.mtimes.add(a.lastModifiedTime().toMillis());
                int label = scanned.label(i);
                l.labels.add(label >= 0 ? scanned.classes().get(label) : null);
            } catch (IOException e) {
                LOG.warn("skipping {} ({})", file, e.getMessage()); // vanished or a dangling link
            }
        }
        if (l.paths.isEmpty()) {
            throw new UserException(root + " has no images; point --images at a folder of images (jpg/png/bmp/gif)");
        }
        return l;
    }

    private static final class Listing {
        final List<String> paths = new ArrayList<>();
        final List<Path> files = new ArrayList<>();
        final List<Long> sizes = new ArrayList<>();
        final List<Long> mtimes = new ArrayList<>();
        final List<String> labels = new ArrayList<>();
    }

    /** The images to embed this run, as a data set. */
    private record Subset(Listing listing, List<Integer> rows) implements ImageDataset {
        @Override
        public int size() {
            return rows.size();
        }

        @Override
        public RgbImage load(int index) throws IOException {
            return ImageDecoder.decode(listing.files.get(rows.get(index)));
        }

        @Override
        public int label(int index) {
            return UNLABELED;
        }

        @Override
        public List<String> classes() {
            return List.of();
        }

        @Override
        public String describe(int index) {
            return listing.files.get(rows.get(index)).toString();
        }
    }
}
