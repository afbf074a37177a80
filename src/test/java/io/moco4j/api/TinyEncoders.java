package io.moco4j.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.GeneratedScenes;
import io.moco4j.data.RgbImage;
import io.moco4j.eval.ProjectorExport;
import io.moco4j.method.Encoders;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.TrainingProgress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** Test fixtures: a randomly initialised tiny encoder saved as a checkpoint, and folders of generated scenes. */
public final class TinyEncoders {
    private TinyEncoders() {}

    /** A ResNet-18 x0.125 (CIFAR stem, 32 px, 8-d linear head) with random weights, as an encoder checkpoint. */
    public static Path checkpoint(Path dir, long seed) throws IOException {
        return checkpoint(dir, seed, false);
    }

    /**
     * As {@link #checkpoint(Path, long)}; with {@code bf16Weights} every convolution and linear weight (the tensors
     * of 2 or more dimensions: what autocast casts to bf16 for each op) is rounded to the nearest bf16 value (ties
     * to even), kept in float32. BatchNorm parameters and statistics are left as they are.
     */
    public static Path checkpoint(Path dir, long seed, boolean bf16Weights) throws IOException {
        MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8").build();
        return checkpoint(dir.resolve("tiny-" + seed + (bf16Weights ? "-bf16w" : "") + ".ckpt"), cfg, seed,
                (key, v) -> bf16Weights && v.getShape().dimension() >= 2);
    }

    /**
     * The encoder of {@code cfg} with random weights (from {@code seed}) as an encoder checkpoint at {@code file}, with
     * the tensors that {@code rounded} picks rounded to the nearest bf16 value (ties to even), kept in float32.
     */
    public static Path checkpoint(Path file, MocoConfig cfg, long seed,
                                  java.util.function.BiPredicate<String, NDArray> rounded) throws IOException {
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            io.moco4j.model.Encoder net = Encoders.create(cfg, m, seed);
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            net.stateDict().forEach((k, v) -> {
                if (rounded.test(k, v)) {
                    float[] x = v.toFloatArray();
                    for (int i = 0; i < x.length; i++) {
                        x[i] = roundToBf16(x[i]);
                    }
                    v.set(x);
                }
                tensors.put("encoder_q." + k, v);
            });
            Checkpoints.write(file, cfg, Checkpoints.Kind.ENCODER, tensors, TrainingProgress.START, 0, 0, null);
        }
        return file;
    }

    /** The bf16 value nearest to {@code x} (round to nearest, ties to even), as a float (finite {@code x}). */
    public static float roundToBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(rounded & 0xFFFF0000);
    }

    /**
     * Writes {@code n} generated 32 px scenes as PNGs into class sub-folders of {@code dir} (class folder of the
     * scene's label, file {@code NNNN.png}) and returns the files in the order a folder scan lists them.
     */
    public static List<Path> sceneFolder(Path dir, int n, long seed) throws IOException {
        GeneratedScenes scenes = GeneratedScenes.train(n, seed, 32);
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RgbImage img = scenes.load(i);
            Path cls = dir.resolve(scenes.classes().get(scenes.label(i)));
            Files.createDirectories(cls);
            Path f = cls.resolve(String.format("%04d.png", i));
            ImageIO.write(ProjectorExport.toBufferedImage(img), "png", f.toFile());
            files.add(f);
        }
        files.sort((a, b) -> {
            int c = a.getParent().getFileName().toString().compareTo(b.getParent().getFileName().toString());
            return c != 0 ? c : a.getFileName().toString().compareTo(b.getFileName().toString());
        });
        return files;
    }
}
