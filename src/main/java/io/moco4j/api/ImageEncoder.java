package io.moco4j.api;

import io.moco4j.data.RgbImage;
import io.moco4j.eval.FeatureLayer;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a service needs of a trained encoder, whichever runtime runs it: images in, one embedding row per image out,
 * with the checkpoint's evaluation preprocessing. {@link Encoder} runs a checkpoint with libtorch (DJL);
 * {@link OnnxEncoder} runs a model written by {@code ./moco4j export --format onnx} with ONNX Runtime and needs no
 * libtorch. Both are thread-safe; {@link #close()} frees the weights.
 *
 * <pre>{@code
 * try (ImageEncoder encoder = ImageEncoder.open(Path.of("encoder.onnx"))) {   // or a .ckpt / .pth
 *     float[] e = encoder.embed(Path.of("cat.jpg"));
 * }
 * }</pre>
 */
public interface ImageEncoder extends AutoCloseable {

    /** {@link #open(Path, Encoder.Options)} with the defaults (for an .onnx file: the features it was exported with). */
    static ImageEncoder open(Path file) {
        if (isOnnx(file)) {
            return OnnxEncoder.load(file);
        }
        return Encoder.load(file);
    }

    /**
     * An {@code .onnx} file opens as an {@link OnnxEncoder} (ONNX Runtime; DJL and libtorch are not loaded), anything
     * else as an {@link Encoder} ({@link Encoder#load(Path, Encoder.Options)}).
     */
    static ImageEncoder open(Path file, Encoder.Options options) {
        if (isOnnx(file)) {
            return OnnxEncoder.load(file, options); // before any reference to Encoder: DJL stays unloaded
        }
        return Encoder.load(file, options);
    }

    /** Whether a file name says ONNX ({@code .onnx}, any case). */
    static boolean isOnnx(Path file) {
        return file.getFileName() != null && file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx");
    }

    /** The embedding of one decoded image (alpha dropped, grey replicated, as PIL's {@code convert("RGB")}). */
    float[] embed(BufferedImage image);

    /**
     * The embedding of an image file (jpg, png, bmp, gif; EXIF orientation applied).
     *
     * @throws io.moco4j.util.UserException when the file cannot be read or is not an image
     */
    float[] embed(Path file);

    /** The embeddings of image files, one row per file in the given order. */
    float[][] embed(List<Path> files);

    /** The embeddings of decoded images, one row per image in the given order. */
    float[][] embedImages(List<BufferedImage> images);

    /** The embeddings of images decoded by MoCo4J's own decoder, in the given order. */
    float[][] embedDecoded(List<RgbImage> images);

    /** Length of every embedding. */
    int dimension();

    /** The network's input size in pixels (square). */
    int imageSize();

    /** Which encoder output the embeddings are. */
    FeatureLayer layer();

    /** Where the weights come from, e.g. "the query encoder of runs/c10/checkpoints/last.ckpt". */
    String description();

    /** Frees the weights after the calls in flight have finished; later calls fail. Idempotent. */
    @Override
    void close();
}
