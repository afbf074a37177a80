package io.moco4j.api;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.moco4j.data.ImageDecoder;
import io.moco4j.data.ResizeTooLargeException;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.onnx.OnnxExport;
import io.moco4j.util.UserException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.stream.IntStream;

/**
 * An encoder exported by {@code ./moco4j export --format onnx}, run by ONNX Runtime (CPU): the same preprocessing
 * ({@link EvalPreprocessing}, from the image size in the model's metadata) and the same embeddings as {@link Encoder}
 * on the checkpoint it came from, without DJL or libtorch. Nothing of DJL is loaded on this path, so a service may
 * leave DJL and libtorch off its class path (README, "ONNX").
 *
 * <p>Thread-safe: ONNX Runtime sessions accept concurrent runs; {@link #close()} waits for calls in flight.
 */
public final class OnnxEncoder implements ImageEncoder {
    // OnnxExport's names are compile-time constants, copied into this class by javac: reading them loads neither
    // OnnxExport nor the DJL classes it uses.
    private static final String INPUT = OnnxExport.INPUT;
    private static final String OUTPUT = OnnxExport.OUTPUT;

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Path file;
    private final FeatureLayer layer;
    private final int imageSize;
    private final int dimension;
    private final int batchSize;
    private final ViewTransform preprocessing;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private boolean closed;

    private OnnxEncoder(OrtEnvironment env, OrtSession session, Path file, FeatureLayer layer, int imageSize,
                        int dimension, int batchSize, boolean normalizeHere) {
        this.env = env;
        this.session = session;
        this.file = file;
        this.layer = layer;
        this.imageSize = imageSize;
        this.dimension = dimension;
        this.batchSize = batchSize;
        this.preprocessing = EvalPreprocessing.forSize(imageSize, normalizeHere);
    }

    /** The model with the features it was exported with, batches of 64, ONNX Runtime's default thread count. */
    public static OnnxEncoder load(Path file) {
        return open(file, null, 64, 0);
    }

    /**
     * The model, checked against {@code options}: its layer must be the exported one and its image size (if set) the
     * exported size; the device must be {@code cpu} or {@code auto} (ONNX Runtime's CPU package); the precision fp32 or
     * auto (the exported graph is float32; bf16/fp16 are libtorch autocast's and refused).
     */
    public static OnnxEncoder load(Path file, Encoder.Options options) {
        return load(file, options, 0);
    }

    /** As {@link #load(Path, Encoder.Options)} with {@code intraOpThreads} threads per call (0: ONNX Runtime's default). */
    public static OnnxEncoder load(Path file, Encoder.Options options, int intraOpThreads) {
        String device = options.device().trim().toLowerCase(Locale.ROOT);
        if (!device.equals("cpu") && !device.equals("auto")) {
            throw new UserException("device '" + options.device() + "' is not available for an ONNX model: ONNX Runtime's"
                    + " CPU package runs it on the CPU; use --device cpu (or a checkpoint with libtorch for a GPU)");
        }
        if (options.precision() == io.moco4j.precision.Precision.BF16 || options.precision() == io.moco4j.precision.Precision.FP16) {
            // auto is accepted: it means "the fastest exact-enough arithmetic here", which for this float32 graph is float32
            throw new UserException("precision " + options.precision() + " is for libtorch's autocast; ONNX Runtime runs the"
                    + " exported float32 graph as it is: use precision fp32 (or auto) for " + file.getFileName()
                    + ", or the checkpoint it was exported from");
        }
        OnnxEncoder e = open(file, options.layer(), options.batchSize(), intraOpThreads);
        if (options.imageSize() != null && options.imageSize() != e.imageSize) {
            e.close();
            throw new UserException(file + " was exported for " + e.imageSize + "-px images, not " + options.imageSize()
                    + "; leave the image size unset or export again with --image-size " + options.imageSize());
        }
        return e;
    }

    private static OnnxEncoder open(Path file, FeatureLayer wanted, int batchSize, int threads) {
        if (!Files.isRegularFile(file)) {
            throw new UserException("ONNX model " + file + " does not exist; write one with ./moco4j export --format onnx");
        }
        if (threads < 0) {
            throw new UserException("intra-op threads must be >= 0 (0 = ONNX Runtime's default), got " + threads);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session;
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            if (threads > 0) {
                opts.setIntraOpNumThreads(threads);
            }
            session = env.createSession(file.toString(), opts);
        } catch (OrtException e) {
            throw new UserException("ONNX Runtime cannot load " + file + " (" + oneLine(e.getMessage())
                    + "); export the model again with ./moco4j export --format onnx");
        }
        try {
            Map<String, String> meta = session.getMetadata().getCustomMetadata();
            Map<String, NodeInfo> inputs = session.getInputInfo();
            Map<String, NodeInfo> outputs = session.getOutputInfo();
            if (!inputs.containsKey(INPUT) || !outputs.containsKey(OUTPUT) || !meta.containsKey(OnnxExport.META_IMAGE_SIZE)) {
                throw new UserException(file + " is not a MoCo4J encoder (no '" + INPUT + "' input, '" + OUTPUT
                        + "' output and moco4j metadata); write one with ./moco4j export --format onnx");
            }
            FeatureLayer layer = FeatureLayer.parse(meta.get(OnnxExport.META_FEATURES));
            if (wanted != null && wanted != layer) {
                throw new UserException(file + " was exported with --features " + layer.id() + ", not " + wanted.id()
                        + "; export it again with --features " + wanted.id());
            }
            int size = Integer.parseInt(meta.get(OnnxExport.META_IMAGE_SIZE));
            int dim = Integer.parseInt(meta.get(OnnxExport.META_DIMENSION));
            boolean normalizeHere = !OnnxExport.INPUT_UNIT_RGB.equals(meta.get(OnnxExport.META_INPUT));
            if (batchSize < 1) {
                throw new UserException("batch size must be at least 1 (got " + batchSize + ")");
            }
            return new OnnxEncoder(env, session, file, layer, size, dim, batchSize, normalizeHere);
        } catch (OrtException | NumberFormatException e) {
            closeQuietly(session);
            throw new UserException(file + " has unreadable MoCo4J metadata (" + oneLine(e.getMessage())
                    + "); export the model again with ./moco4j export --format onnx");
        } catch (RuntimeException e) {
            closeQuietly(session);
            throw e;
        }
    }

    @Override
    public float[] embed(BufferedImage image) {
        return embedImages(List.of(image))[0];
    }

    @Override
    public float[] embed(Path file) {
        return embed(List.of(file))[0];
    }

    @Override
    public float[][] embed(List<Path> files) {
        List<Path> copy = List.copyOf(files);
        return run(copy, ImageDecoder::decode, Path::toString);
    }

    @Override
    public float[][] embedImages(List<BufferedImage> images) {
        List<BufferedImage> copy = List.copyOf(images);
        return run(copy, ImageDecoder::toRgb, i -> "image");
    }

    @Override
    public float[][] embedDecoded(List<RgbImage> images) {
        List<RgbImage> copy = List.copyOf(images);
        return run(copy, img -> img, i -> "image");
    }

    private interface Decoder<T> {
        RgbImage decode(T item) throws IOException;
    }

    private <T> float[][] run(List<T> items, Decoder<T> decoder, Function<T, String> name) {
        float[][] out = new float[items.size()][];
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("this encoder is closed");
            }
            for (int from = 0; from < items.size(); from += batchSize) {
                int to = Math.min(items.size(), from + batchSize);
                float[][] rows = forward(preprocess(items, from, to, decoder, name), to - from);
                System.arraycopy(rows, 0, out, from, rows.length);
            }
            return out;
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** Decodes and transforms images [from, to) into one NCHW batch, in parallel (as the libtorch path's batcher). */
    private <T> float[] preprocess(List<T> items, int from, int to, Decoder<T> decoder, Function<T, String> name) {
        int per = 3 * imageSize * imageSize;
        float[] data = new float[(to - from) * per];
        IntStream.range(from, to).parallel().forEach(i -> {
            T item = items.get(i);
            RgbImage image;
            try {
                image = decoder.decode(item);
            } catch (IOException e) {
                throw new UserException("cannot read image " + name.apply(item) + ": " + e.getMessage()
                        + "; remove or replace the file", e);
            }
            try {
                // the evaluation transform draws no random numbers; the generator only fills the interface
                preprocessing.apply(image, new SplittableRandom(i), data, (i - from) * per);
            } catch (ResizeTooLargeException e) {
                throw new UserException("cannot use image " + name.apply(item) + ": " + e.getMessage(), e);
            }
        });
        return data;
    }

    /** The lower-level call: a normalised (or, for a model that normalises itself, v / 255) NCHW batch of n images. */
    public float[][] forward(float[] images, int n) {
        try (OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(images),
                new long[] {n, 3, imageSize, imageSize});
             OrtSession.Result result = session.run(Map.of(INPUT, input))) {
            return (float[][]) result.get(0).getValue();
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on " + file + ": " + oneLine(e.getMessage()), e);
        }
    }

    @Override
    public int dimension() {
        return dimension;
    }

    @Override
    public int imageSize() {
        return imageSize;
    }

    @Override
    public FeatureLayer layer() {
        return layer;
    }

    @Override
    public String description() {
        return "the ONNX model " + file;
    }

    /** The preprocessing images go through before {@link #forward}. */
    public ViewTransform preprocessing() {
        return preprocessing;
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                closeQuietly(session);
            }
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    private static void closeQuietly(OrtSession s) {
        try {
            s.close();
        } catch (OrtException ignored) {
            // closing a session that failed to open fully: nothing else to free
        }
    }

    private static String oneLine(String s) {
        return String.valueOf(s).replace('\n', ' ').strip();
    }

    @Override
    public String toString() {
        return description() + " (" + layer.id() + ", " + dimension + "-d, " + imageSize + " px)";
    }
}
