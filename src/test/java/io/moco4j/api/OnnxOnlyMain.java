package io.moco4j.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a service without DJL/libtorch runs ({@link OnnxEncoderTest} starts it on a class path without DJL's jars):
 * opens an .onnx model through {@link ImageEncoder#open(Path)} and writes the embeddings of the given image files,
 * one line of floats per file, to {@code args[1]}. Refuses to run when DJL is on the class path, so the test cannot
 * pass by accident with libtorch present.
 */
public final class OnnxOnlyMain {
    public static void main(String[] args) throws Exception {
        try {
            Class.forName("ai.djl.ndarray.NDArray");
            System.err.println("DJL is on the class path; this check needs a class path without it");
            System.exit(3);
        } catch (ClassNotFoundException expected) {
            // the point: no DJL here
        }
        List<Path> files = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            files.add(Path.of(args[i]));
        }
        List<String> lines = new ArrayList<>();
        try (ImageEncoder encoder = ImageEncoder.open(Path.of(args[0]))) {
            for (float[] row : encoder.embed(files)) {
                StringBuilder s = new StringBuilder();
                for (float v : row) {
                    s.append(s.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.9g", v));
                }
                lines.add(s.toString());
            }
        }
        Files.write(Path.of(args[1]), lines);
    }
}
