package io.moco4j.data;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The STL-10 binary distribution ({@code stl10_binary/}, Coates, Ng, Lee 2011): {@code train_X.bin} / {@code train_y.bin}
 * (5,000 labeled), {@code test_X.bin} / {@code test_y.bin} (8,000 labeled) and {@code unlabeled_X.bin} (100,000). An
 * image is 3 x 96 x 96 bytes, channel after channel, and each channel is stored column by column (the transpose of the
 * usual row order: the official reader does {@code reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)}). Labels are one byte
 * each, 1 to 10, in the order of {@code class_names.txt}.
 *
 * <p>Images are read from the file when asked for (positional reads, safe from several loader threads), so the
 * 2.8 GB unlabeled file is not held in memory; labels are read at open.
 */
public final class Stl10BinaryDataset implements ImageDataset, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Stl10BinaryDataset.class);
    static final int SIDE = 96;
    static final int IMAGE_BYTES = 3 * SIDE * SIDE;
    static final List<String> CLASSES = List.of("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck");

    /** The three parts of the distribution. */
    public enum Part {
        TRAIN("train_X.bin", "train_y.bin"),
        TEST("test_X.bin", "test_y.bin"),
        UNLABELED("unlabeled_X.bin", null);

        final String images;
        final String labels;

        Part(String images, String labels) {
            this.images = images;
            this.labels = labels;
        }

        /** The part whose image or label file is named {@code fileName}, or null. */
        static Part ofFile(String fileName) {
            for (Part p : values()) {
                if (p.images.equals(fileName) || fileName.equals(p.labels)) {
                    return p;
                }
            }
            return null;
        }
    }

    private final Path imageFile;
    private final FileChannel channel;
    private final int count;
    private final byte[] labels; // null when unlabeled
    private final List<String> classes;

    private Stl10BinaryDataset(Path imageFile, FileChannel channel, int count, byte[] labels, List<String> classes) {
        this.imageFile = imageFile;
        this.channel = channel;
        this.count = count;
        this.labels = labels;
        this.classes = classes;
    }

    /** Whether {@code folder} holds STL-10 binaries (any of the image files). */
    public static boolean detect(Path folder) {
        for (Part p : Part.values()) {
            if (Files.isRegularFile(folder.resolve(p.images))) {
                return true;
            }
        }
        return false;
    }

    /** The part a split reads from a folder: train for training, test for evaluation (the unlabeled file by its name). */
    public static Part partOf(DataSplit split) {
        return split == DataSplit.TRAIN ? Part.TRAIN : Part.TEST;
    }

    /** The part named by a file of the distribution ({@code unlabeled_X.bin}, {@code train_X.bin}, ...), or null. */
    public static Part partOfFile(Path file) {
        return file.getFileName() == null ? null : Part.ofFile(file.getFileName().toString());
    }

    /** Opens {@code part} of the STL-10 binaries in {@code folder}. */
    public static Stl10BinaryDataset open(Path folder, Part part) {
        Path images = folder.resolve(part.images);
        if (!Files.isRegularFile(images)) {
            throw new UserException(folder + " has no " + part.images + "; unpack the complete STL-10 binary version"
                    + " (stl10_binary.tar.gz) there, or name one of its files (e.g. " + folder.resolve(Part.UNLABELED.images) + ")");
        }
        long size = size(images);
        if (size == 0 || size % IMAGE_BYTES != 0) {
            throw new UserException(images + " has " + size + " bytes, not a whole number of " + IMAGE_BYTES
                    + "-byte STL-10 images (3 x 96 x 96); the file is truncated or of another kind: download and unpack it again");
        }
        if (size / IMAGE_BYTES > Integer.MAX_VALUE) {
            throw new UserException(images + " holds more images than MoCo4J indexes; it is not an STL-10 file");
        }
        int count = (int) (size / IMAGE_BYTES);
        byte[] labels = null;
        List<String> classes = List.of();
        if (part.labels != null) {
            labels = readLabels(folder.resolve(part.labels), count);
            classes = classNames(folder);
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(images, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UserException("cannot read " + images + " (" + e.getMessage() + "); check its permissions", e);
        }
        LOG.info("{}: {} STL-10 {} images of 96 x 96 px{}", images, count, part.name().toLowerCase(Locale.ROOT),
                labels == null ? " (unlabeled)" : " in " + classes.size() + " classes");
        return new Stl10BinaryDataset(images, channel, count, labels, classes);
    }

    private static byte[] readLabels(Path file, int count) {
        if (!Files.isRegularFile(file)) {
            throw new UserException(file.getParent() + " has no " + file.getFileName() + " for its " + count
                    + " images; unpack the complete STL-10 binary version there");
        }
        byte[] raw;
        try {
            raw = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check its permissions", e);
        }
        if (raw.length != count) {
            throw new UserException(file + " has " + raw.length + " labels for " + count + " images; one of the two files is"
                    + " truncated: download and unpack STL-10 again");
        }
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            int l = raw[i] & 0xff;
            if (l < 1 || l > CLASSES.size()) {
                throw new UserException(file + " label " + i + " is " + l + "; STL-10 labels are 1 to 10: the file is corrupt");
            }
            labels[i] = (byte) (l - 1);
        }
        return labels;
    }

    private static List<String> classNames(Path folder) {
        Path names = folder.resolve("class_names.txt");
        if (Files.isRegularFile(names)) {
            try {
                List<String> read = Files.readAllLines(names, StandardCharsets.UTF_8).stream().map(String::strip)
                        .filter(s -> !s.isEmpty()).toList();
                if (read.size() == CLASSES.size()) {
                    return read;
                }
                LOG.warn("{} lists {} class names, expected {}; using STL-10's", names, read.size(), CLASSES.size());
            } catch (IOException e) {
                LOG.warn("cannot read {} ({}); using STL-10's class names", names, e.toString());
            }
        }
        return CLASSES;
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check its permissions", e);
        }
    }

    @Override
    public int size() {
        return count;
    }

    @Override
    public RgbImage load(int index) throws IOException {
        java.util.Objects.checkIndex(index, count);
        ByteBuffer buf = ByteBuffer.allocate(IMAGE_BYTES);
        long at = (long) index * IMAGE_BYTES;
        while (buf.hasRemaining()) {
            int n = channel.read(buf, at + buf.position());
            if (n < 0) {
                throw new IOException(imageFile + " ended inside image " + index + "; the file was truncated after it was opened");
            }
        }
        byte[] chw = buf.array();
        int plane = SIDE * SIDE;
        byte[] hwc = new byte[IMAGE_BYTES];
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < SIDE; x++) { // column by column: byte (c, x, y) is pixel row y, column x
                int from = c * plane + x * SIDE;
                for (int y = 0; y < SIDE; y++) {
                    hwc[3 * (y * SIDE + x) + c] = chw[from + y];
                }
            }
        }
        return new RgbImage(SIDE, SIDE, hwc);
    }

    @Override
    public int label(int index) {
        return labels == null ? UNLABELED : labels[index];
    }

    @Override
    public List<String> classes() {
        return classes;
    }

    @Override
    public String describe(int index) {
        return imageFile + "#" + index;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
