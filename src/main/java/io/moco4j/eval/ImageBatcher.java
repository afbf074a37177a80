package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ResizeTooLargeException;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Decodes and transforms a batch of images into one float32 NCHW tensor. Decoding and augmentation run
 * on the common fork-join pool; each image gets its own generator seeded from (seed, epoch, index), so
 * the result does not depend on the number of threads. The evaluation paths need nothing more than this
 * (one view, no prefetch); training uses the data package's loader.
 */
final class ImageBatcher {
    private ImageBatcher() {}

    static NDArray load(ImageDataset dataset, int[] indices, int from, int to, ViewTransform transform,
                        long seed, int epoch, NDManager manager) {
        int c = 3;
        int h = transform.height();
        int w = transform.width();
        int per = c * h * w;
        float[] data = new float[(to - from) * per];
        IntStream.range(from, to).parallel().forEach(i -> {
            int index = indices[i];
            RgbImage image;
            try {
                image = dataset.load(index);
            } catch (IOException e) {
                throw new UserException("cannot read image " + dataset.describe(index) + ": " + e.getMessage()
                        + "; remove or replace the file", e);
            }
            try {
                transform.apply(image, new SplittableRandom(mix(seed, epoch, index)), data, (i - from) * per);
            } catch (ResizeTooLargeException e) {
                throw new UserException("cannot use image " + dataset.describe(index) + ": " + e.getMessage(), e);
            }
        });
        return manager.create(data, new Shape(to - from, c, h, w));
    }

    /** The images of a batch that decoded, as one tensor, with their data set indices and the failures. */
    record Readable(NDArray images, int[] indices, java.util.List<String> failures) {}

    /**
     * Like {@link #load} over images {@code [from, to)} in order, but an image that cannot be decoded is left
     * out (its one-line reason is in {@code failures}) instead of ending the batch; {@code images} is null when
     * none decoded.
     */
    static Readable loadReadable(ImageDataset dataset, int from, int to, ViewTransform transform, NDManager manager) {
        int per = 3 * transform.height() * transform.width();
        float[][] views = new float[to - from][];
        String[] failed = new String[to - from];
        IntStream.range(from, to).parallel().forEach(i -> {
            try {
                float[] v = new float[per];
                transform.apply(dataset.load(i), new SplittableRandom(mix(0, 0, i)), v, 0);
                views[i - from] = v;
            } catch (IOException | ResizeTooLargeException e) {
                String why = String.valueOf(e.getMessage()).replace('\n', ' ');
                String name = dataset.describe(i);
                // an UnreadableImageException's message already starts with the file's name
                failed[i - from] = why.startsWith(name + ": ") ? why : name + ": " + why;
            }
        });
        java.util.List<String> failures = new java.util.ArrayList<>();
        int kept = 0;
        for (int i = 0; i < views.length; i++) {
            if (views[i] != null) {
                kept++;
            } else {
                failures.add(failed[i]);
            }
        }
        int[] indices = new int[kept];
        float[] data = new float[kept * per];
        for (int i = 0, k = 0; i < views.length; i++) {
            if (views[i] != null) {
                indices[k] = from + i;
                System.arraycopy(views[i], 0, data, k * per, per);
                k++;
            }
        }
        NDArray images = kept == 0 ? null
                : manager.create(data, new Shape(kept, 3, transform.height(), transform.width()));
        return new Readable(images, indices, failures);
    }

    static int[] all(int n) {
        return IntStream.range(0, n).toArray();
    }

    /** A well-spread 64-bit seed from three integers (SplitMix64 finaliser on a simple combination). */
    static long mix(long seed, long epoch, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + index * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
