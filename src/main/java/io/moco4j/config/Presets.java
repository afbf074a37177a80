package io.moco4j.config;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystemAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The names of the built-in presets, read from the {@code presets/} resource folder (every {@code NAME.yaml} but
 * {@code defaults.yaml}), so a preset added there is known to {@code --preset} and listed by {@code pretrain --help}
 * without a second list to keep in step. Works from the class folder (tests, IDE) and from the jar.
 */
public final class Presets {
    private static final String FOLDER = "/presets/";
    private static final String DEFAULTS = "defaults";
    private static volatile List<String> names;

    private Presets() {}

    /** The preset names, sorted. */
    public static List<String> names() {
        List<String> n = names;
        if (n == null) {
            n = read();
            names = n;
        }
        return n;
    }

    private static List<String> read() {
        URL anchor = Presets.class.getResource(FOLDER + DEFAULTS + ".yaml");
        if (anchor == null) {
            throw new IllegalStateException("the built-in presets folder is missing from the class path");
        }
        try {
            URI uri = anchor.toURI();
            if (uri.getScheme().equals("jar")) {
                FileSystem jar;
                boolean opened = true;
                try {
                    jar = FileSystems.newFileSystem(uri, Map.of());
                } catch (FileSystemAlreadyExistsException e) {
                    jar = FileSystems.getFileSystem(uri); // someone else's: list it and leave it open
                    opened = false;
                }
                try {
                    return list(jar.getPath(FOLDER));
                } finally {
                    if (opened) {
                        jar.close();
                    }
                }
            }
            return list(Path.of(uri).getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the built-in presets", e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<String> list(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString())
                    .filter(f -> f.endsWith(".yaml"))
                    .map(f -> f.substring(0, f.length() - ".yaml".length()))
                    .filter(f -> !f.equals(DEFAULTS))
                    .sorted()
                    .toList();
        }
    }
}
