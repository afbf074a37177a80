package io.moco4j.testutil;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.io.Npy;
import io.moco4j.io.Npy.NpyArray;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * Loads the committed reference files under {@code src/test/resources/golden/} that the scripts in
 * {@code tools/golden/} generate with PyTorch. Paths are relative to {@code golden/}.
 */
public final class Golden {
    private Golden() {}

    public static NpyArray npy(String path) {
        try (InputStream in = open(path)) {
            return Npy.read(in, path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads an {@code np.savez} archive: entry name (without ".npy") to array, in archive order. */
    public static Map<String, NpyArray> npz(String path) {
        Map<String, NpyArray> out = new LinkedHashMap<>();
        try (ZipInputStream zip = new ZipInputStream(open(path))) {
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                String name = e.getName().endsWith(".npy") ? e.getName().substring(0, e.getName().length() - 4) : e.getName();
                out.put(name, Npy.read(zip, path + ":" + e.getName()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    public static JsonNode json(String path) {
        try (InputStream in = open(path)) {
            return new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static InputStream open(String path) {
        InputStream in = Golden.class.getResourceAsStream("/golden/" + path);
        if (in == null) {
            throw new IllegalStateException("missing golden file golden/" + path + "; run tools/golden/regenerate.sh");
        }
        return in;
    }
}
