package io.moco4j.data;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the user's {@code --data} value into a data set. Accepted:
 * <ul>
 *   <li>{@code null}, {@code builtin} or {@code builtin:SIZE[:COUNT]}: the {@link GeneratedScenes} set
 *       (default 32 px, {@value GeneratedScenes#DEFAULT_TRAIN_COUNT} training images; the test split has a fifth
 *       as many, at least 100);</li>
 *   <li>a folder of CIFAR binaries, or a folder holding {@code cifar-10-batches-bin} / {@code cifar-100-binary};</li>
 *   <li>a folder of STL-10 binaries ({@code stl10_binary}, or a folder holding it): {@code train_X.bin} for training,
 *       {@code test_X.bin} for evaluation; one of its files (e.g. {@code unlabeled_X.bin}) for that part alone;</li>
 *   <li>a folder with {@code train/} and {@code test/} (or {@code val/}) sub-folders: the one of the split;</li>
 *   <li>any other folder: an {@link ImageFolderDataset} (class sub-folders, or flat = unlabeled).</li>
 * </ul>
 */
public final class DataSources {
    private static final Logger LOG = LoggerFactory.getLogger(DataSources.class);
    public static final String BUILTIN = "builtin";
    private static final Set<String> SPLIT_FOLDERS = Set.of("train", "test", "val", "valid", "validation");
    private static final long BUILTIN_SEED = 0;

    private DataSources() {}

    /** Whether {@code spec} names the generated set ({@code builtin[:SIZE[:COUNT]]}) rather than a path. */
    public static boolean isBuiltin(String spec) {
        return spec.strip().toLowerCase(Locale.ROOT).startsWith(BUILTIN);
    }

    /** The training images of {@code pathOrBuiltin}. */
    public static ImageDataset open(String pathOrBuiltin, boolean unlabeled, boolean strict) {
        return open(pathOrBuiltin, DataSplit.TRAIN, unlabeled, strict);
    }

    public static ImageDataset open(String pathOrBuiltin, DataSplit split, boolean unlabeled, boolean strict) {
        if (pathOrBuiltin == null || pathOrBuiltin.isBlank() || isBuiltin(pathOrBuiltin)) {
            return builtin(pathOrBuiltin == null ? BUILTIN : pathOrBuiltin.strip(), split);
        }
        Path path = Path.of(pathOrBuiltin);
        if (!Files.exists(path)) {
            throw new UserException(path + " does not exist; point --data at a folder of images (jpg/png/bmp/gif), "
                    + "a CIFAR binary folder, or use --data builtin");
        }
        if (!Files.isDirectory(path)) {
            String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".tar.gz") || name.endsWith(".tgz") || name.endsWith(".tar") || name.endsWith(".zip")) {
                throw new UserException(path + " is an archive; unpack it first (e.g. tar xzf " + path
                        + " -C DIR) and point --data at the unpacked folder");
            }
            Stl10BinaryDataset.Part stlPart = Stl10BinaryDataset.partOfFile(path);
            if (stlPart != null) {
                return log(Stl10BinaryDataset.open(path.toAbsolutePath().getParent(), stlPart), path, split);
            }
            if (name.endsWith(".bin") && CifarBinaryDataset.detect(path.toAbsolutePath().getParent()) != null) {
                return log(CifarBinaryDataset.open(path.toAbsolutePath().getParent(), split), path, split);
            }
            throw new UserException(path + " is a file, not a folder; point --data at a folder of images");
        }
        Path cifar = cifarFolder(path);
        if (cifar != null) {
            return log(CifarBinaryDataset.open(cifar, split), cifar, split);
        }
        Path stl10 = stl10Folder(path);
        if (stl10 != null) {
            return log(Stl10BinaryDataset.open(stl10, Stl10BinaryDataset.partOf(split)), stl10, split);
        }
        Path splitFolder = splitFolder(path, split);
        Path root = splitFolder != null ? splitFolder : path;
        // A plain folder named for evaluation (--val DIR) is the evaluation set itself.
        return log(ImageFolderDataset.open(root, unlabeled, strict), root, split);
    }

    private static ImageDataset log(ImageDataset ds, Path from, DataSplit split) {
        LOG.info("{} data: {} images{} from {}", split.name().toLowerCase(Locale.ROOT), ds.size(),
                ds.isLabeled() ? " in " + ds.classes().size() + " classes" : " (unlabeled)", from);
        return ds;
    }

    /** {@code builtin[:SIZE[:COUNT]]}. */
    static GeneratedScenes builtin(String spec, DataSplit split) {
        String[] parts = spec.split(":");
        if (!parts[0].equalsIgnoreCase(BUILTIN) || parts.length > 3) {
            throw new UserException("--data " + spec + " is not valid; use builtin, builtin:SIZE or builtin:SIZE:COUNT "
                    + "(e.g. builtin:64:20000) or a folder path");
        }
        int size = GeneratedScenes.DEFAULT_SIZE;
        int count = GeneratedScenes.DEFAULT_TRAIN_COUNT;
        try {
            if (parts.length > 1) {
                size = Integer.parseInt(parts[1]);
            }
            if (parts.length > 2) {
                count = Integer.parseInt(parts[2]);
            }
        } catch (NumberFormatException e) {
            throw new UserException("--data " + spec + " is not valid; use builtin, builtin:SIZE or builtin:SIZE:COUNT "
                    + "with whole numbers (e.g. builtin:64:20000)");
        }
        if (size < 8 || size > 512 || count < 10) {
            throw new UserException("--data " + spec + " asks for " + count + " images of " + size + " px; use a size "
                    + "of 8..512 and at least 10 images");
        }
        GeneratedScenes ds = split == DataSplit.TRAIN
                ? GeneratedScenes.train(count, BUILTIN_SEED, size)
                : GeneratedScenes.test(Math.max(100, count / 5), BUILTIN_SEED, size);
        LOG.info("{} data: {} built-in generated scenes of {}x{} px in {} classes",
                split.name().toLowerCase(Locale.ROOT), ds.size(), size, size, ds.classes().size());
        return ds;
    }

    /** {@code dir} itself or its cifar-10-batches-bin / cifar-100-binary child, when it holds CIFAR binaries. */
    static Path cifarFolder(Path dir) {
        for (Path candidate : List.of(dir, dir.resolve("cifar-10-batches-bin"), dir.resolve("cifar-100-binary"))) {
            if (Files.isDirectory(candidate) && CifarBinaryDataset.detect(candidate) != null) {
                return candidate;
            }
        }
        return null;
    }

    /** {@code dir} itself or its stl10_binary child, when it holds STL-10 binaries. */
    static Path stl10Folder(Path dir) {
        for (Path candidate : List.of(dir, dir.resolve("stl10_binary"))) {
            if (Files.isDirectory(candidate) && Stl10BinaryDataset.detect(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    /**
     * The split's sub-folder when {@code dir} is laid out as train/ + test/ (or val/) folders, i.e. it has a
     * {@code train} folder and every other sub-folder has a split name; else null.
     */
    static Path splitFolder(Path dir, DataSplit split) {
        List<String> children;
        try (Stream<Path> s = Files.list(dir)) {
            children = s.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith(".")).toList();
        } catch (IOException e) {
            throw new UserException("cannot list " + dir + " (" + e.getMessage() + "); check the path and its permissions", e);
        }
        if (!children.contains("train") || !SPLIT_FOLDERS.containsAll(children)) {
            return null;
        }
        List<String> wanted = split == DataSplit.TRAIN ? List.of("train") : List.of("test", "val", "valid", "validation");
        for (String name : wanted) {
            if (children.contains(name)) {
                return dir.resolve(name);
            }
        }
        return null;
    }
}
