package io.moco4j.data;

import java.io.IOException;
import java.util.List;

/**
 * A finite, indexable set of images with optional labels. Implementations must be safe to call
 * from several loader threads at once.
 */
public interface ImageDataset {

    /** Label value for images without a class. */
    int UNLABELED = -1;

    int size();

    /** Decodes image {@code index} as 8-bit RGB. */
    RgbImage load(int index) throws IOException;

    /** Class index of image {@code index}, or {@link #UNLABELED}. */
    int label(int index);

    /** Class names in label order; empty for an unlabeled set. */
    List<String> classes();

    /** A human-readable name for image {@code index} (a path for files), used in warnings and embeddings indexes. */
    String describe(int index);

    default boolean isLabeled() {
        return !classes().isEmpty();
    }
}
