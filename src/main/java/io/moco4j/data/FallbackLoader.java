package io.moco4j.data;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads images for the loader and replaces unreadable ones so that batches keep their size: when image {@code i}
 * cannot be decoded, images {@code i+1, i+2, ...} (wrapping around) are tried and the first readable one is used
 * in its place. The choice depends only on which files are readable, so it is the same for any number of threads.
 * Each bad image is reported once (one warning line) and remembered, so later epochs do not try it again.
 * Strict data sets throw {@link UserException} from {@link ImageDataset#load} themselves; that propagates.
 */
final class FallbackLoader {
    private static final Logger LOG = LoggerFactory.getLogger(FallbackLoader.class);

    /** An image together with the data set index it really came from. */
    record Loaded(int index, RgbImage image) {}

    private final ImageDataset dataset;
    private final Set<Integer> bad = ConcurrentHashMap.newKeySet();

    FallbackLoader(ImageDataset dataset) {
        this.dataset = dataset;
    }

    Loaded load(int index) {
        int n = dataset.size();
        for (int attempt = 0; attempt < n; attempt++) {
            int candidate = (int) (((long) index + attempt) % n);
            if (bad.contains(candidate)) {
                continue;
            }
            try {
                return new Loaded(candidate, dataset.load(candidate));
            } catch (IOException e) {
                if (bad.add(candidate)) {
                    LOG.warn("skipping unreadable image {}: {}", dataset.describe(candidate), oneLine(e));
                }
            }
        }
        throw new UserException("none of the " + n + " images could be decoded (see the warnings above); point "
                + "--data at a folder of readable images (jpg/png/bmp/gif)");
    }

    /** How many distinct images turned out unreadable so far. */
    int unreadableCount() {
        return bad.size();
    }

    /** Indices of the images found unreadable so far. */
    Set<Integer> unreadable() {
        return Set.copyOf(bad);
    }

    private static String oneLine(IOException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        String desc = m.replace('\n', ' ');
        int colon = desc.indexOf(": ");
        // UnreadableImageException messages start with the file name, which the warning already shows.
        return e instanceof UnreadableImageException && colon >= 0 ? desc.substring(colon + 2) : desc;
    }
}
