package io.moco4j.serve;

import io.moco4j.api.EmbeddingIndex;
import io.moco4j.api.Encoder;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ImageFolderDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The images a server shows: every image of one folder (with its class when the folder has class sub-folders),
 * in a fixed order, each known by its row id, plus their embeddings in an {@link EmbeddingIndex}.
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
    private final EmbeddingIndex index;

    Gallery(Path root, List<Item> items, List<String> classes, EmbeddingIndex index) {
        this.root = root;
        this.items = List.copyOf(items);
        this.classes = List.copyOf(classes);
        this.index = index;
    }

    /**
     * Lists {@code folder} and embeds it, or reads the embeddings from {@code cache} when the same files (paths,
     * sizes, modification times) were embedded by the same checkpoint before.
     *
     * @param checkpointHash identifies the encoder's weights (e.g. the checkpoint file's SHA-256)
     * @param progress told the number of images embedded so far and the total (for a progress bar)
     */
    public static Gallery open(Path folder, Encoder encoder, String checkpointHash, EmbeddingCache cache, Progress progress) {
        Listing listing = list(folder);
        String key = EmbeddingCache.key(listing, checkpointHash, encoder);
        EmbeddingIndex index = cache.read(key, listing.items().size(), encoder.dimension());
        if (index == null) {
            index = cache.write(key, listing.items().stream().map(Item::path).toList(), encoder.dimension(), sink ->
                    encoder.embedAll(listing.dataset(), (from, batch) -> {
                        sink.accept(batch);
                        progress.update(from + Math.toIntExact(batch.getShape().get(0)), listing.items().size());
                    }));
        } else {
            LOG.info("read the embeddings of {} images from the cache {}", listing.items().size(), cache.folder());
        }
        return new Gallery(listing.root(), listing.items(), listing.classes(), index);
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

    public EmbeddingIndex index() {
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
