package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.data.ImageDataset;
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
            transform.apply(image, new SplittableRandom(mix(seed, epoch, index)), data, (i - from) * per);
        });
        return manager.create(data, new Shape(to - from, c, h, w));
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
