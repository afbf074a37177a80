package io.moco4j.serve;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.NeighborSearch;
import io.moco4j.api.Encoder;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ImageFolderDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.index.LuceneVectorIndex;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The images a server shows: every image of one folder (with its class when the folder has class sub-folders),
 * in a fixed order, each known by its row id, plus their embeddings in an {@link EmbeddingIndex} (embedded at start)
 * or a {@link LuceneVectorIndex} (built before by {@code ./moco4j index}).
 *
 * <p>Only regular files whose real location (symbolic links resolved) lies inside the folder are indexed, so a
 * link pointing out of the folder is never served. The server hands out files by id only; a request never
 * names a path.
 */
public final class Gallery {
    private static final Logger LOG = LoggerFactory.getLogger(Gallery.class);

    /** One indexed image: its row id, path relative to the folder (with '/'), class index or -1, and its real file. */
    public record Item(int id, String path, int label, Path file) {}

    /** Receives embedding progress. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total);
    }

    private final Path root;
    private final List<Item> items;
    private final List<String> classes;
    private final NeighborSearch index;

    Gallery(Path root, List<Item> items, List<String> classes, NeighborSearch index) {
        this.root = root;
        this.items = List.copyOf(items);
        this.classes = List.copyOf(classes);
        this.index = index;
    }

    /**
     * Lists {@code folder} and embeds it, or reads the embeddings from {@code cache} when the same files (paths,
     * sizes, modification times) were embedded by the same checkpoint before. Files that cannot be decoded or
     * resized (damaged, decompression bombs) are left out of the gallery with one warning each.
     *
     * @param checkpointHash identifies the encoder's weights (e.g. the checkpoint file's SHA-256)
     * @param progress told the number of images embedded so far and the total (for a progress bar)
     */
    public static Gallery open(Path folder, Encoder encoder, String checkpointHash, EmbeddingCache cache, Progress progress) {
        Listing listing = list(folder);
        String key = EmbeddingCache.key(listing, checkpointHash, encoder);
        int n = listing.items().size();
        EmbeddingCache.Entry cached = cache.read(key, listing, encoder.dimension());
        List<Item> kept = new ArrayList<>();
        EmbeddingIndex index;
        if (cached == null) {
            List<String> paths = listing.items().stream().map(Item::path).toList();
            int[] skipped = {0};
            index = cache.write(key, n, encoder.dimension(), sink ->
                    encoder.embedReadable(listing.dataset(), (indices, batch) -> {
                        List<String> names = new ArrayList<>(indices.length);
                        for (int i : indices) {
                            kept.add(listing.items().get(i));
                            names.add(paths.get(i));
                        }
                        sink.accept(batch, names);
                        progress.update(indices[indices.length - 1] + 1, n);
                    }, failure -> {
                        skipped[0]++;
                        LOG.warn("skipping unreadable image {}", failure);
                    }));
            if (kept.isEmpty()) {
                throw new UserException("none of the " + n + " images under " + listing.root() + " could be decoded"
                        + " (see the warnings above); point --images at a folder of readable images (jpg/png/bmp/gif)");
            }
            if (skipped[0] > 0) {
                LOG.warn("{} of {} images under {} are unreadable and left out of the gallery", skipped[0], n, listing.root());
            }
        } else {
            Map<String, Item> byPath = new HashMap<>();
            listing.items().forEach(item -> byPath.put(item.path(), item));
            cached.paths().forEach(path -> kept.add(byPath.get(path)));
            index = cached.index();
            LOG.info("read the embeddings of {} images from the cache {}", kept.size(), cache.folder());
        }
        List<Item> items = new ArrayList<>(kept.size());
        for (Item item : kept) {
            items.add(new Item(items.size(), item.path(), item.label(), item.file())); // ids are gallery rows
        }
        return new Gallery(listing.root(), items, listing.classes(), index);
    }

    /**
     * The images of a Lucene index built by {@code ./moco4j index}: rows in index order, paths relative to
     * {@code folder} (the indexed folder unless told otherwise), classes from the stored labels. Nothing is embedded.
     */
    public static Gallery fromIndex(LuceneVectorIndex index, Path folder) {
        Path root;
        try {
            root = folder.toRealPath();
        } catch (IOException e) {
            throw new UserException(folder + " (the indexed image folder) does not exist or cannot be read; pass --images DIR");
        }
        if (index.size() == 0) {
            throw new UserException("the index holds no images; run ./moco4j index on a folder of images first");
        }
        List<String[]> rows = index.pathsAndLabels();
        TreeSet<String> names = new TreeSet<>();
        rows.forEach(r -> {
            if (r[1] != null) {
                names.add(r[1]);
            }
        });
        List<String> classes = List.copyOf(names);
        Map<String, Integer> labelOf = new HashMap<>();
        classes.forEach(c -> labelOf.put(c, labelOf.size()));
        List<Item> items = new ArrayList<>(rows.size());
        for (String[] r : rows) {
            int label = r[1] == null ? -1 : labelOf.get(r[1]);
            items.add(new Item(items.size(), r[0], label, root.resolve(r[0]))); // GET /image re-checks it stays inside
        }
        return new Gallery(root, items, classes, index);
    }

    /** The folder's images as they would be indexed (no embedding). */
    static Listing list(Path folder) {
        Path root;
        try {
            root = folder.toRealPath();
        } catch (IOException e) {
            throw new UserException(folder + " does not exist or cannot be read; point --images at a folder of images");
        }
        ImageFolderDataset scanned = ImageFolderDataset.open(root, false, false);
        List<Item> items = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int outside = 0;
        for (int i = 0; i < scanned.size(); i++) {
            Path file = scanned.path(i);
            Path real;
            try {
                real = file.toRealPath();
            } catch (IOException e) {
                continue; // vanished or a dangling link
            }
            if (!real.startsWith(root) || !Files.isRegularFile(real)) {
                outside++;
                continue;
            }
            String rel = root.relativize(file).toString().replace('\\', '/');
            items.add(new Item(items.size(), rel, scanned.label(i), real));
            files.add(real);
            labels.add(scanned.label(i));
        }
        if (outside > 0) {
            LOG.warn("{} image(s) under {} are symbolic links to files outside the folder and are not served", outside, root);
        }
        if (items.isEmpty()) {
            throw new UserException(root + " has no images inside the folder itself; point --images at a folder of images");
        }
        return new Listing(root, items, scanned.classes(), new IndexedFiles(files, labels, scanned.classes()));
    }

    /** A folder's indexed images and the data set view the encoder reads them through. */
    record Listing(Path root, List<Item> items, List<String> classes, ImageDataset dataset) {}

    /** The indexed files as a data set (same order and labels as the items). */
    private record IndexedFiles(List<Path> files, List<Integer> labels, List<String> classes) implements ImageDataset {
        @Override
        public int size() {
            return files.size();
        }

        @Override
        public RgbImage load(int index) throws IOException {
            return io.moco4j.data.ImageDecoder.decode(files.get(index));
        }

        @Override
        public int label(int index) {
            return labels.get(index);
        }

        @Override
        public String describe(int index) {
            return files.get(index).toString();
        }
    }

    public Path root() {
        return root;
    }

    public List<Item> items() {
        return items;
    }

    public int size() {
        return items.size();
    }

    /** Class names in label order; empty when the folder has no class sub-folders. */
    public List<String> classes() {
        return classes;
    }

    public boolean isLabeled() {
        return !classes.isEmpty();
    }

    public NeighborSearch index() {
        return index;
    }

    /** Item {@code id}, or null when there is none (ids come from requests). */
    public Item item(int id) {
        return id >= 0 && id < items.size() ? items.get(id) : null;
    }

    /** The class name of label {@code label}, or null for -1. */
    public String className(int label) {
        return label >= 0 && label < classes.size() ? classes.get(label) : null;
    }
}
