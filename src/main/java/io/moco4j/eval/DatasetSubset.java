package io.moco4j.eval;

import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/** A view of some images of another data set (same classes), e.g. the kNN monitor's fixed random subset. */
public final class DatasetSubset implements ImageDataset {
    private final ImageDataset base;
    private final int[] indices;

    public DatasetSubset(ImageDataset base, int[] indices) {
        for (int i : indices) {
            if (i < 0 || i >= base.size()) {
                throw new IllegalArgumentException("subset index " + i + " outside [0, " + base.size() + ")");
            }
        }
        this.base = base;
        this.indices = indices.clone();
    }

    /**
     * A fixed random subset of at most {@code max} images (all of them when {@code max <= 0} or the set is
     * smaller), chosen with {@code seed} and kept in the original order.
     */
    public static ImageDataset random(ImageDataset base, int max, long seed) {
        int n = base.size();
        if (max <= 0 || max >= n) {
            return base;
        }
        int[] perm = ImageBatcher.all(n);
        Random rng = new Random(seed);
        for (int i = 0; i < max; i++) { // partial Fisher-Yates: the first max entries are a uniform sample
            int j = i + rng.nextInt(n - i);
            int tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        int[] chosen = Arrays.copyOf(perm, max);
        Arrays.sort(chosen);
        return new DatasetSubset(base, chosen);
    }

    @Override
    public int size() {
        return indices.length;
    }

    @Override
    public RgbImage load(int index) throws IOException {
        return base.load(indices[index]);
    }

    @Override
    public int label(int index) {
        return base.label(indices[index]);
    }

    @Override
    public List<String> classes() {
        return base.classes();
    }

    @Override
    public String describe(int index) {
        return base.describe(indices[index]);
    }
}
