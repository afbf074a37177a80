package io.moco4j.data;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CIFAR binary distributions, read into memory. CIFAR-10 ({@code cifar-10-batches-bin}): training files
 * {@code data_batch_1.bin .. data_batch_5.bin}, test file {@code test_batch.bin}, records of 1 label byte + 3072
 * image bytes (1024 red, 1024 green, 1024 blue, rows top to bottom). CIFAR-100 ({@code cifar-100-binary}):
 * {@code train.bin} / {@code test.bin}, records of a coarse and a fine label byte + 3072 image bytes; we use the
 * fine (100-class) label. Class names come from {@code batches.meta.txt} / {@code fine_label_names.txt} when present.
 */
public final class CifarBinaryDataset implements ImageDataset {
    private static final Logger LOG = LoggerFactory.getLogger(CifarBinaryDataset.class);
    static final int SIDE = 32;
    static final int IMAGE_BYTES = 3 * SIDE * SIDE;
    static final List<String> CIFAR10_CLASSES = List.of(
            "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

    /** The two layouts. */
    public enum Variant {
        CIFAR10(1, 10, "batches.meta.txt"),
        CIFAR100(2, 100, "fine_label_names.txt");

        final int labelBytes;
        final int classCount;
        final String namesFile;

        Variant(int labelBytes, int classCount, String namesFile) {
            this.labelBytes = labelBytes;
            this.classCount = classCount;
            this.namesFile = namesFile;
        }

        int recordBytes() {
            return labelBytes + IMAGE_BYTES;
        }
    }

    private final Variant variant;
    private final Path folder;
    private final byte[] images; // CHW per record, records back to back
    private final byte[] labels;
    private final List<String> classes;

    private CifarBinaryDataset(Variant variant, Path folder, byte[] images, byte[] labels, List<String> classes) {
        this.variant = variant;
        this.folder = folder;
        this.images = images;
        this.labels = labels;
        this.classes = classes;
    }

    /** The variant whose files are in {@code folder}, or null when it holds no CIFAR binaries. */
    public static Variant detect(Path folder) {
        if (Files.isRegularFile(folder.resolve("test_batch.bin")) || Files.isRegularFile(folder.resolve("data_batch_1.bin"))) {
            return Variant.CIFAR10;
        }
        if (Files.isRegularFile(folder.resolve("train.bin")) || Files.isRegularFile(folder.resolve("test.bin"))) {
            return Variant.CIFAR100;
        }
        return null;
    }

    /** Reads the {@code split} of the CIFAR binaries in {@code folder}. */
    public static CifarBinaryDataset open(Path folder, DataSplit split) {
        Variant variant = detect(folder);
        if (variant == null) {
            throw new UserException(folder + " holds no CIFAR binaries (data_batch_N.bin/test_batch.bin or "
                    + "train.bin/test.bin); point --data at the unpacked cifar-10-batches-bin or cifar-100-binary folder");
        }
        List<Path> files = files(folder, variant, split);
        long total = 0;
        for (Path f : files) {
            total += recordCount(f, variant);
        }
        if (total * IMAGE_BYTES > Integer.MAX_VALUE - 8) {
            throw new UserException(folder + " holds " + total + " CIFAR records, more than fit in memory as one array; "
                    + "this is not a CIFAR data set, convert it to an image folder");
        }
        byte[] images = new byte[(int) (total * IMAGE_BYTES)];
        byte[] labels = new byte[(int) total];
        int n = 0;
        for (Path f : files) {
            n = read(f, variant, images, labels, n);
        }
        List<String> classes = classNames(folder, variant);
        LOG.info("{}: {} {} images in {} classes", folder, n, variant == Variant.CIFAR10 ? "CIFAR-10" : "CIFAR-100",
                classes.size());
        return new CifarBinaryDataset(variant, folder, images, labels, classes);
    }

    private static List<Path> files(Path folder, Variant variant, DataSplit split) {
        List<Path> files = new ArrayList<>();
        if (variant == Variant.CIFAR10 && split == DataSplit.TRAIN) {
            for (int i = 1; i <= 5; i++) {
                Path f = folder.resolve("data_batch_" + i + ".bin");
                if (Files.isRegularFile(f)) {
                    files.add(f);
                }
            }
            if (files.isEmpty()) {
                throw new UserException(folder + " has no data_batch_1.bin .. data_batch_5.bin; unpack the complete "
                        + "CIFAR-10 binary version (cifar-10-binary.tar.gz) there");
            }
            if (files.size() < 5) {
                LOG.warn("{}: only {} of the 5 CIFAR-10 training batches are present", folder, files.size());
            }
            return files;
        }
        String name = variant == Variant.CIFAR10 ? "test_batch.bin" : split == DataSplit.TRAIN ? "train.bin" : "test.bin";
        Path f = folder.resolve(name);
        if (!Files.isRegularFile(f)) {
            throw new UserException(folder + " has no " + name + "; unpack the complete CIFAR binary version there");
        }
        return List.of(f);
    }

    private static long recordCount(Path file, Variant variant) {
        long size;
        try {
            size = Files.size(file);
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check its permissions", e);
        }
        if (size == 0 || size % variant.recordBytes() != 0) {
            throw new UserException(file + " has " + size + " bytes, not a multiple of the " + variant.recordBytes()
                    + "-byte " + (variant == Variant.CIFAR10 ? "CIFAR-10" : "CIFAR-100") + " record; the file is "
                    + "truncated or of another kind: download and unpack it again");
        }
        return size / variant.recordBytes();
    }

    private static int read(Path file, Variant variant, byte[] images, byte[] labels, int start) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UserException("cannot read " + file + " (" + e.getMessage() + "); check its permissions", e);
        }
        int records = bytes.length / variant.recordBytes();
        for (int r = 0; r < records; r++) {
            int at = r * variant.recordBytes();
            int label = bytes[at + variant.labelBytes - 1] & 0xff; // CIFAR-100: the second (fine) label byte
            if (label >= variant.classCount) {
                throw new UserException(file + " record " + r + " has label " + label + " but the data set has "
                        + variant.classCount + " classes; the file is corrupt or not a " + variant + " binary");
            }
            labels[start + r] = (byte) label;
            System.arraycopy(bytes, at + variant.labelBytes, images, (start + r) * IMAGE_BYTES, IMAGE_BYTES);
        }
        return start + records;
    }

    private static List<String> classNames(Path folder, Variant variant) {
        Path meta = folder.resolve(variant.namesFile);
        if (Files.isRegularFile(meta)) {
            try {
                List<String> names = Files.readAllLines(meta, StandardCharsets.UTF_8).stream()
                        .map(String::strip).filter(s -> !s.isEmpty()).toList();
                if (names.size() == variant.classCount) {
                    return names;
                }
                LOG.warn("{} lists {} class names, expected {}; using default names", meta, names.size(), variant.classCount);
            } catch (IOException e) {
                LOG.warn("cannot read {} ({}); using default class names", meta, e.toString());
            }
        }
        if (variant == Variant.CIFAR10) {
            return CIFAR10_CLASSES;
        }
        return IntStream.range(0, variant.classCount).mapToObj(i -> "class_" + i).toList();
    }

    public Variant variant() {
        return variant;
    }

    @Override
    public int size() {
        return labels.length;
    }

    @Override
    public RgbImage load(int index) {
        java.util.Objects.checkIndex(index, labels.length);
        int plane = SIDE * SIDE;
        int at = index * IMAGE_BYTES;
        byte[] hwc = new byte[IMAGE_BYTES];
        for (int p = 0; p < plane; p++) {
            hwc[3 * p] = images[at + p];
            hwc[3 * p + 1] = images[at + plane + p];
            hwc[3 * p + 2] = images[at + 2 * plane + p];
        }
        return new RgbImage(SIDE, SIDE, hwc);
    }

    @Override
    public int label(int index) {
        return labels[index] & 0xff;
    }

    @Override
    public List<String> classes() {
        return classes;
    }

    @Override
    public String describe(int index) {
        return folder + "#" + index;
    }
}
