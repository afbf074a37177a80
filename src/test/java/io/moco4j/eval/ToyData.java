package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import java.util.List;
import java.util.random.RandomGenerator;

/** Tiny in-memory images and transforms for the eval tests. */
final class ToyData {
    private ToyData() {}

    /** Solid-colour 4x4 images: image i has colour (r, g, b) = colours[i] and label labels[i]. */
    static ImageDataset solid(int[][] colours, int[] labels, List<String> classes) {
        return new ImageDataset() {
            @Override
            public int size() {
                return colours.length;
            }

            @Override
            public RgbImage load(int index) {
                byte[] px = new byte[4 * 4 * 3];
                for (int p = 0; p < 16; p++) {
                    for (int c = 0; c < 3; c++) {
                        px[p * 3 + c] = (byte) colours[index][c];
                    }
                }
                return new RgbImage(4, 4, px);
            }

            @Override
            public int label(int index) {
                return classes.isEmpty() ? UNLABELED : labels[index];
            }

            @Override
            public List<String> classes() {
                return classes;
            }

            @Override
            public String describe(int index) {
                return "toy/img_" + index + ".png";
            }
        };
    }

    /** To-tensor (x / 255) of the 4x4 image, CHW. */
    static ViewTransform toTensor() {
        return new ViewTransform() {
            @Override
            public int height() {
                return 4;
            }

            @Override
            public int width() {
                return 4;
            }

            @Override
            public void apply(RgbImage image, RandomGenerator rng, float[] out, int offset) {
                for (int c = 0; c < 3; c++) {
                    for (int y = 0; y < 4; y++) {
                        for (int x = 0; x < 4; x++) {
                            out[offset + c * 16 + y * 4 + x] = image.get(x, y, c) / 255f;
                        }
                    }
                }
            }
        };
    }

    /** A parameter-free "backbone": global average pooling of the channels, (N, 3, H, W) -> (N, 3). */
    static NDArray meanPool(NDArray images) {
        return images.mean(new int[] {3}).mean(new int[] {2});
    }
}
