package io.moco4j.data;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Images in a folder tree, like torchvision's {@code ImageFolder}: each sub-folder of the root is a class (class
 * names sorted, label = position), searched recursively. A root without class folders, or {@code unlabeled=true},
 * gives an unlabeled set of every image under the root.
 *
 * <p>Order is deterministic and the same as torchvision's: by containing directory path, then by file name.
 * Extensions (case-insensitive): {@value #EXTENSIONS_TEXT}. Names starting with '.' are ignored (macOS
 * "._x.jpg" resource forks are the usual source of corrupt "images").
 *
 * <p>Bad files: zero-byte files are found for free during the scan (the walk already has their size) and are
 * left out with one warning each plus a count (strict: a {@link UserException}). Every other problem (not an
 * image, truncated, corrupt) is only visible when decoding, so {@link #load} throws an
 * {@link UnreadableImageException} and the loader substitutes another image (see {@link FallbackLoader}); in
 * strict mode {@link #load} throws a {@link UserException} naming the file. Probing every header at scan time
 * would cost one extra open per file (slow on network file systems with a million images) and still miss
 * truncated files.
 */
public final class ImageFolderDataset implements ImageDataset {
    private static final Logger LOG = LoggerFactory.getLogger(ImageFolderDataset.class);

    static final String EXTENSIONS_TEXT = "jpg/jpeg/png/bmp/gif";
    private static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "gif");

    private final Path root;
    private final boolean strict;
    private final List<String> classes;
    // Compact storage (a million Path objects would cost hundreds of MB): directory table + file names.
    private final List<Path> directories;
    private final int[] directoryOf;
    private final String[] names;
    private final int[] labels;
    private final int skippedEmptyFiles;

    private ImageFolderDataset(Path root, boolean strict, List<String> classes, List<Path> directories,
                               int[] directoryOf, String[] names, int[] labels, int skippedEmptyFiles) {
        this.root = root;
        this.strict = strict;
        this.classes = classes;
        this.directories = directories;
        this.directoryOf = directoryOf;
        this.names = names;
        this.labels = labels;
        this.skippedEmptyFiles = skippedEmptyFiles;
    }

    /**
     * Scans {@code root}. With {@code unlabeled} false, class folders give labels (a flat folder is unlabeled);
     * with {@code strict}, unreadable files are errors instead of being skipped.
     */
    public static ImageFolderDataset open(Path root, boolean unlabeled, boolean strict) {
        if (!Files.exists(root)) {
            throw new UserException(root + " does not exist; point --data at a folder of images (jpg/png/bmp/gif)");
        }
        if (!Files.isDirectory(root)) {
            throw new UserException(root + " is not a folder; point --data at a folder of images (jpg/png/bmp/gif)");
        }
        List<Path> classDirs = unlabeled ? List.of() : classFolders(root);
        Scan scan = new Scan(strict);
        List<String> classNames = new ArrayList<>();
        if (classDirs.isEmpty()) {
            scan.walk(root, ImageDataset.UNLABELED);
        } else {
            int rootFiles = countImagesDirectlyIn(root);
            if (rootFiles > 0) {
                LOG.warn("{} image(s) directly in {} are ignored: with class sub-folders only images inside them "
                        + "are used (use --unlabeled to take every image)", rootFiles, root);
            }
            for (int c = 0; c < classDirs.size(); c++) {
                Path dir = classDirs.get(c);
                classNames.add(dir.getFileName().toString());
                int before = scan.size();
                scan.walk(dir, c);
                if (scan.size() == before) {
                    LOG.warn("class folder {} contains no images; its label {} is kept so that labels match other "
                            + "splits", dir, c);
                }
            }
        }
        if (scan.skippedEmpty > 0) {
            LOG.warn("{}: skipped {} empty (0-byte) file(s)", root, scan.skippedEmpty);
        }
        if (scan.size() == 0) {
            throw new UserException(root + " contains no images (" + EXTENSIONS_TEXT
                    + "); point --data at a folder of images");
        }
        scan.sort();
        return new ImageFolderDataset(root, strict, List.copyOf(classNames), scan.directories,
                scan.directoryOf(), scan.sortedNames(), scan.labels(), scan.skippedEmpty);
    }

    /** Non-hidden immediate sub-folders of {@code root}, sorted by name (Python's {@code sorted}, code point order). */
    static List<Path> classFolders(Path root) {
        try (Stream<Path> children = Files.list(root)) {
            return children
                    .filter(Files::isDirectory)
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString()))
                    .toList();
        } catch (IOException e) {
            throw new UserException("cannot list " + root + " (" + e.getMessage() + "); check the path and its permissions", e);
        }
    }

    private static int countImagesDirectlyIn(Path dir) {
        try (Stream<Path> children = Files.list(dir)) {
            return (int) children.filter(Files::isRegularFile).filter(ImageFolderDataset::hasImageExtension).count();
        } catch (IOException e) {
            return 0;
        }
    }

    static boolean hasImageExtension(Path file) {
        String name = file.getFileName().toString();
        if (name.startsWith(".")) {
            return false;
        }
        int dot = name.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    /** Accumulates the files of a walk. */
    private static final class Scan {
        final boolean strict;
        final List<Path> directories = new ArrayList<>();
        final java.util.Map<Path, Integer> directoryIds = new java.util.HashMap<>();
        final List<Integer> dirIndex = new ArrayList<>();
        final List<String> names = new ArrayList<>();
        final List<Integer> labelList = new ArrayList<>();
        int skippedEmpty;
        private int[] order;

        Scan(boolean strict) {
            this.strict = strict;
        }

        int size() {
            return names.size();
        }

        void walk(Path start, int label) {
            try {
                Files.walkFileTree(start, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE,
                        new SimpleFileVisitor<>() {

                            @Override
                            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                                if (!dir.equals(start) && dir.getFileName().toString().startsWith(".")) {
                                    return FileVisitResult.SKIP_SUBTREE;
                                }
                                return FileVisitResult.CONTINUE;
                            }

                            @Override
                            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                                if (!attrs.isRegularFile() || !hasImageExtension(file)) {
                                    return FileVisitResult.CONTINUE;
                                }
                                if (attrs.size() == 0) {
                                    if (strict) {
                                        throw new UserException(file + " is empty (0 bytes); delete it, or run "
                                                + "without --strict to skip unreadable images");
                                    }
                                    LOG.warn("skipping {}: empty file (0 bytes)", file);
                                    skippedEmpty++;
                                    return FileVisitResult.CONTINUE;
                                }
                                Integer dir = directoryIds.computeIfAbsent(file.getParent(), p -> {
                                    directories.add(p);
                                    return directories.size() - 1;
                                });
                                dirIndex.add(dir);
                                names.add(file.getFileName().toString());
                                labelList.add(label);
                                return FileVisitResult.CONTINUE;
                            }

                            @Override
                            public FileVisitResult visitFileFailed(Path file, IOException e) {
                                if (e instanceof FileSystemLoopException) {
                                    LOG.warn("skipping {}: symbolic link loop", file);
                                    return FileVisitResult.CONTINUE;
                                }
                                if (strict) {
                                    throw new UserException("cannot read " + file + " (" + e.getMessage()
                                            + "); fix its permissions, or run without --strict to skip it");
                                }
                                LOG.warn("skipping {}: {}", file, e.toString());
                                return FileVisitResult.CONTINUE;
                            }
                        });
            } catch (IOException e) {
                throw new UserException("cannot scan " + start + " (" + e.getMessage() + "); check the path and its "
                        + "permissions", e);
            }
        }

        /** torchvision's order: sorted(os.walk(...)) then sorted(fnames), i.e. by (directory path, file name). */
        void sort() {
            Integer[] idx = new Integer[names.size()];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = i;
            }
            String[] dirNames = directories.stream().map(Path::toString).toArray(String[]::new);
            java.util.Arrays.sort(idx, Comparator
                    .comparing((Integer i) -> labelList.get(i)) // class folders come in sorted order already
                    .thenComparing(i -> dirNames[dirIndex.get(i)])
                    .thenComparing(i -> names.get(i)));
            order = new int[idx.length];
            for (int i = 0; i < idx.length; i++) {
                order[i] = idx[i];
            }
        }

        int[] directoryOf() {
            int[] out = new int[order.length];
            for (int i = 0; i < order.length; i++) {
                out[i] = dirIndex.get(order[i]);
            }
            return out;
        }

        String[] sortedNames() {
            String[] out = new String[order.length];
            for (int i = 0; i < order.length; i++) {
                out[i] = names.get(order[i]);
            }
            return out;
        }

        int[] labels() {
            int[] out = new int[order.length];
            for (int i = 0; i < order.length; i++) {
                out[i] = labelList.get(order[i]);
            }
            return out;
        }
    }

    public Path root() {
        return root;
    }

    public boolean strict() {
        return strict;
    }

    /** Number of zero-byte files left out during the scan. */
    public int skippedEmptyFiles() {
        return skippedEmptyFiles;
    }

    public Path path(int index) {
        return directories.get(directoryOf[index]).resolve(names[index]);
    }

    @Override
    public int size() {
        return names.length;
    }

    @Override
    public RgbImage load(int index) throws IOException {
        Path file = path(index);
        try {
            return ImageDecoder.decode(file);
        } catch (IOException e) {
            if (strict) {
                throw new UserException(file + " is not a readable image (" + reason(e) + "); delete or replace it, "
                        + "or run without --strict to skip unreadable images", e);
            }
            throw e instanceof UnreadableImageException ? e : new UnreadableImageException(file.toString(), reason(e), e);
        }
    }

    private static String reason(IOException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int colon = m.indexOf(": ");
        return colon >= 0 && e instanceof UnreadableImageException ? m.substring(colon + 2) : m;
    }

    @Override
    public int label(int index) {
        return labels[index];
    }

    @Override
    public List<String> classes() {
        return classes;
    }

    @Override
    public String describe(int index) {
        return path(index).toString();
    }
}
