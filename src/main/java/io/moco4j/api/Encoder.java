package io.moco4j.api;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ImageDataset;
import io.moco4j.data.ImageDecoder;
import io.moco4j.data.RgbImage;
import io.moco4j.data.ViewTransform;
import io.moco4j.eval.FeatureBank;
import io.moco4j.eval.FeatureFunction;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.interop.CheckpointImport;
import io.moco4j.method.Encoders;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Precision;
import io.moco4j.train.Checkpoints;
import io.moco4j.util.Devices;
import io.moco4j.util.UserException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A trained encoder that turns images into embeddings.
 *
 * <p>Open one with {@link #load(Path)}: a MoCo4J checkpoint ({@code pretrain} output or {@code ./moco4j import}
 * output) or a PyTorch file that {@code import} understands (a torchvision or {@code main_lincls.py} state dict,
 * an official {@code main_moco.py} checkpoint, safetensors), which is converted on the fly. Images are
 * preprocessed as the checkpoint's evaluation does ({@code embed}, {@code knn}): at 32-64 px normalisation only
 * (images of another size are first resized and centre-cropped to the training size), above that resize and centre
 * crop at the 256/224 ratio; then the query encoder runs in eval mode and the pooled backbone output (or the head
 * output, see {@link Options#layer()}) is returned as a {@code float[]}.
 *
 * <p>{@link Options#precision()} bf16 or fp16 runs the forward pass under libtorch's autocast (entered and left
 * inside each call, on the calling thread, also when the call throws); the embeddings are float32 in every precision.
 *
 * <p>An ONNX model written by {@code ./moco4j export --format onnx} is opened by {@link OnnxEncoder} (ONNX Runtime,
 * no libtorch); {@link ImageEncoder#open} picks the class by the file name.
 *
 * <p>Thread-safe: any number of threads may call the {@code embed} methods at once (each call works in its own
 * native-memory scope, freed before it returns). {@link #close()} waits for calls in flight and frees the weights.
 *
 * <pre>{@code
 * try (Encoder encoder = Encoder.load(Path.of("runs/c10/checkpoints/last.ckpt"))) {
 *     float[] e = encoder.embed(Path.of("cat.jpg"));
 * }
 * }</pre>
 */
public final class Encoder implements ImageEncoder {

    /**
     * How to open an encoder.
     *
     * @param device {@code cpu}, {@code gpu}, {@code gpu:N} or {@code auto}
     * @param layer which output is the embedding: the pooled backbone (default) or the projection head
     * @param imageSize the network's input size in pixels, or null for the size the checkpoint was trained at
     * @param batchSize images per forward pass (bounds native memory per call)
     * @param precision the forward pass's arithmetic: {@link Precision#FP32} (default), or bf16/fp16 under
     *                  libtorch's autocast ({@link Precision#AUTO}: bf16 where the hardware computes it natively);
     *                  embeddings are float32 in every precision
     */
    public record Options(String device, FeatureLayer layer, Integer imageSize, int batchSize, Precision precision) {
        public Options {
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(layer, "layer");
            Objects.requireNonNull(precision, "precision");
            if (batchSize < 1) {
                throw new UserException("batch size must be at least 1 (got " + batchSize + ")");
            }
            if (imageSize != null && (imageSize < 1 || imageSize > 8192)) {
                throw new UserException("image size " + imageSize + " is not valid; use a size in 1..8192 pixels");
            }
        }

        /** Float32, as before precision was an option (kept so existing callers compile). */
        public Options(String device, FeatureLayer layer, Integer imageSize, int batchSize) {
            this(device, layer, imageSize, batchSize, Precision.FP32);
        }

        /** Device {@code auto}, backbone features, the checkpoint's image size, batches of 64, float32. */
        public static Options defaults() {
            return new Options("auto", FeatureLayer.BACKBONE, null, 64, Precision.FP32);
        }

        public Options withDevice(String d) {
            return new Options(d, layer, imageSize, batchSize, precision);
        }

        public Options withLayer(FeatureLayer l) {
            return new Options(device, l, imageSize, batchSize, precision);
        }

        public Options withImageSize(Integer px) {
            return new Options(device, layer, px, batchSize, precision);
        }

        public Options withBatchSize(int n) {
            return new Options(device, layer, imageSize, n, precision);
        }

        public Options withPrecision(Precision p) {
            return new Options(device, layer, imageSize, batchSize, p);
        }
    }

    private final NDManager manager;
    private final io.moco4j.model.Encoder network; // backbone + head; fully named: this class is an Encoder too
    private final MocoConfig config;
    private final String description;
    private final Options options;
    private final Precision precision; // resolved on the device: fp32, bf16 or fp16
    private final FeatureFunction features;
    private final ViewTransform preprocessing;
    private final int dimension;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private boolean closed;

    private Encoder(NDManager manager, io.moco4j.model.Encoder network, MocoConfig config, String description, Options options) {
        this.manager = manager;
        this.network = network;
        this.config = config;
        this.description = description;
        this.options = options;
        this.precision = network == null ? Precision.FP32 : supportedPrecision(options.precision(), manager.getDevice());
        this.features = features(options.layer());
        this.preprocessing = EvalPreprocessing.forSize(imageSize());
        int side = imageSize();
        this.dimension = embedDecoded(List.of(new RgbImage(side, side, new byte[side * side * 3])))[0].length;
    }

    /** {@link #load(Path, Options)} with {@link Options#defaults()}. */
    public static Encoder load(Path file) {
        return load(file, Options.defaults());
    }

    /**
     * Opens the query encoder of a MoCo4J checkpoint, or of a PyTorch / safetensors file (recognised by its
     * extension: {@code .pth}, {@code .pt}, {@code .tar}, {@code .bin}, {@code .safetensors}), which is imported
     * as {@code ./moco4j import} would, into a temporary checkpoint that is deleted again.
     *
     * @throws UserException when the file is missing, damaged or holds no encoder MoCo4J can build
     */
    public static Encoder load(Path file, Options options) {
        if (ImageEncoder.isOnnx(file)) {
            throw new UserException(file + " is an ONNX model, which ONNX Runtime runs, not libtorch; open it with"
                    + " ImageEncoder.open or OnnxEncoder.load, or pass the checkpoint it was exported from");
        }
        if (isPyTorchFile(file)) {
            return loadImported(file, options);
        }
        Checkpoints.Loaded ckpt = Checkpoints.load(file);
        return open(options, ckpt.config(), "the query encoder of " + file, manager -> {
            // Built as the checkpoint says (v1/v2 head, v3 projector, ResNet or ViT); imported encoder-only files may
            // have no head, whatever the stored preset says.
            return ckpt.openQueryEncoder(manager);
        });
    }

    /** A baseline: a randomly initialised encoder of a preset's architecture (torchvision's init, from {@code seed}). */
    public static Encoder randomInit(String preset, long seed, Options options) {
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).build();
        return open(options, cfg, "a randomly initialised " + cfg.model().arch() + " (" + preset + ", seed " + seed + ")",
                manager -> Encoders.create(cfg, manager, seed));
    }

    /** A baseline: the normalised pixels themselves (at the {@code cpu-small} preset's size unless set) as features. */
    public static Encoder rawPixels(Options options) {
        if (options.layer() == FeatureLayer.HEAD) {
            throw new UserException("--features head needs an encoder; raw pixels have no head");
        }
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").build();
        return open(options, cfg, "raw pixels", manager -> null);
    }

    private static Encoder open(Options options, MocoConfig config, String description, Function<NDManager, io.moco4j.model.Encoder> build) {
        NDManager manager = NDManager.newBaseManager(Devices.parse(options.device()));
        try {
            return new Encoder(manager, build.apply(manager), config, description, options);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    static boolean isPyTorchFile(Path file) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".pth") || name.endsWith(".pt") || name.endsWith(".tar") || name.endsWith(".bin")
                || name.endsWith(".safetensors");
    }

    private static Encoder loadImported(Path file, Options options) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("moco4j-import");
            Path ckpt = dir.resolve("encoder.ckpt");
            CheckpointImport.run(new CheckpointImport.Request(file, ckpt, null, Map.of()));
            Encoder opened = load(ckpt, options);
            return new Encoder(opened, "the encoder imported from " + file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary folder to import " + file + ": " + e.getMessage(), e);
        } finally {
            deleteTree(dir);
        }
    }

    /** The same loaded encoder under another description (the temporary import file is an implementation detail). */
    private Encoder(Encoder loaded, String description) {
        this.manager = loaded.manager;
        this.network = loaded.network;
        this.config = loaded.config;
        this.description = description;
        this.options = loaded.options;
        this.precision = loaded.precision;
        this.features = loaded.features;
        this.preprocessing = loaded.preprocessing;
        this.dimension = loaded.dimension;
    }

    private static void deleteTree(Path dir) {
        if (dir == null) {
            return;
        }
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // a leftover temporary file is harmless
        }
    }

    /** The embedding of one image (already decoded; alpha is dropped, grey replicated, as PIL's {@code convert("RGB")}). */
    public float[] embed(BufferedImage image) {
        return embedImages(List.of(image))[0];
    }

    /**
     * The embedding of an image file (jpg, png, bmp, gif; EXIF orientation applied).
     *
     * @throws UserException when the file cannot be read or is not an image
     */
    public float[] embed(Path file) {
        return embed(List.of(file))[0];
    }

    /** The embeddings of image files, one row per file in the given order. */
    public float[][] embed(List<Path> files) {
        List<Path> copy = List.copyOf(files);
        return run(new ListDataset<>(copy, ImageDecoder::decode, Path::toString));
    }

    /** The embeddings of decoded images, one row per image in the given order. */
    public float[][] embedImages(List<BufferedImage> images) {
        List<BufferedImage> copy = List.copyOf(images);
        return run(new ListDataset<>(copy, ImageDecoder::toRgb, i -> "image"));
    }

    /** The embeddings of images decoded by MoCo4J's own decoder ({@link ImageDecoder}), in the given order. */
    public float[][] embedDecoded(List<RgbImage> images) {
        List<RgbImage> copy = List.copyOf(images);
        return run(new ListDataset<>(copy, img -> img, i -> "image"));
    }

    /**
     * The embeddings of every image of a data set, handed over batch by batch (rows {@code [from, from + n)}).
     * Lets a caller embed a large folder with bounded memory and report progress.
     */
    public void embedAll(ImageDataset dataset, FeatureBank.BatchConsumer consumer) {
        lifecycle.readLock().lock();
        try {
            requireOpen();
            FeatureBank.forEachBatch(dataset, preprocessing, features, options.batchSize(), manager, consumer);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /**
     * As {@link #embedAll}, but images that cannot be decoded or resized (damaged files, bombs) are left out:
     * {@code consumer} gets the data set indices of the rows it receives, {@code skipped} one line per image left out.
     */
    public void embedReadable(ImageDataset dataset, FeatureBank.ReadableBatchConsumer consumer, Consumer<String> skipped) {
        lifecycle.readLock().lock();
        try {
            requireOpen();
            FeatureBank.forEachReadableBatch(dataset, preprocessing, features, options.batchSize(), manager, consumer, skipped);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    private float[][] run(ImageDataset images) {
        float[][] out = new float[images.size()][];
        if (images.size() == 0) {
            return out;
        }
        embedAll(images, (from, batch) -> {
            int rows = Math.toIntExact(batch.getShape().get(0));
            int dim = Math.toIntExact(batch.getShape().get(1));
            float[] flat = batch.toFloatArray();
            for (int r = 0; r < rows; r++) {
                out[from + r] = java.util.Arrays.copyOfRange(flat, r * dim, (r + 1) * dim);
            }
        });
        return out;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this encoder is closed");
        }
    }

    /** Length of every embedding. */
    public int dimension() {
        return dimension;
    }

    /** The network's input size in pixels (square). */
    public int imageSize() {
        return options.imageSize() != null ? options.imageSize() : config.train().imageSize();
    }

    /** Which encoder output the embeddings are. */
    public FeatureLayer layer() {
        return options.layer();
    }

    /** E.g. "the query encoder of runs/c10/checkpoints/last.ckpt". */
    public String description() {
        return description;
    }

    /** The evaluation preprocessing images go through (decoded 8-bit RGB to a normalised CHW view). */
    public ViewTransform preprocessing() {
        return preprocessing;
    }

    /** The configuration the encoder was trained with (for an imported file: the one {@code import} chose). */
    public MocoConfig config() {
        return config;
    }

    /**
     * Lower level, for MoCo4J's evaluation commands: the network (null for the raw-pixel baseline). It lives as long
     * as this encoder; do not change its state.
     */
    public io.moco4j.model.Encoder network() {
        return network;
    }

    /** Lower level: the manager holding the weights; evaluation code opens its per-batch sub-managers from it. */
    public NDManager manager() {
        return manager;
    }

    /** Lower level: normalised image batches (N, 3, H, W) to features (N, D) for {@link #layer()}. */
    public FeatureFunction features() {
        return features;
    }

    /** Lower level: as {@link #features()}, for another output of the same network. */
    public FeatureFunction features(FeatureLayer which) {
        if (network == null) {
            if (which == FeatureLayer.HEAD) {
                throw new UserException("--features head needs an encoder; raw pixels have no head");
            }
            return images -> images.reshape(images.getShape().get(0), -1);
        }
        // Autocast is entered and left inside each call, on the thread that runs the forward (serve's request
        // threads, the caller's thread), and the features come back as float32 (FeatureFunction.inPrecision).
        return FeatureFunction.of(network, which).inPrecision(precision, manager.getDevice());
    }

    /**
     * {@code requested} resolved on {@code device} ({@code auto}: bf16 where the hardware computes it natively),
     * checked to be one libtorch's autocast computes there (one line naming the fix otherwise).
     */
    private static Precision supportedPrecision(Precision requested, ai.djl.Device device) {
        // every backbone runs under autocast: ResNet and ViT embeddings within their derived bf16 bounds
        // (EncoderPrecisionTest, EncoderVitPrecisionTest)
        return AutocastSupport.require(device, requested.resolve(device));
    }

    /** The precision the forward passes run in, resolved on the device (fp32, bf16 or fp16; never auto). */
    public Precision precision() {
        return precision;
    }

    /** Frees the weights after the calls in flight have finished; later calls fail. Idempotent. */
    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                manager.close();
            }
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    /** A few in-memory items seen as an unlabeled data set, so the API runs the evaluation commands' batching code. */
    private record ListDataset<T>(List<T> items, Decoder<T> decoder, Function<T, String> name) implements ImageDataset {
        interface Decoder<T> {
            RgbImage decode(T item) throws IOException;
        }

        @Override
        public int size() {
            return items.size();
        }

        @Override
        public RgbImage load(int index) throws IOException {
            return decoder.decode(items.get(index));
        }

        @Override
        public int label(int index) {
            return UNLABELED;
        }

        @Override
        public List<String> classes() {
            return List.of();
        }

        @Override
        public String describe(int index) {
            return name.apply(items.get(index));
        }
    }

    @Override
    public String toString() {
        return description + " (" + options.layer().id() + ", " + dimension + "-d, " + imageSize() + " px"
                + (precision.mixed() ? ", " + precision : "") + ")";
    }
}
