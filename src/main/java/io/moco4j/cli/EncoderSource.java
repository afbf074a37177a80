package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.eval.FeatureLayer;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The encoder an evaluation command scores: a MoCo4J checkpoint's query encoder (or PyTorch weights, imported on
 * the fly), or, for baselines, a randomly initialised encoder of a preset or the raw pixels. Opened through the
 * public {@link Encoder} API, so the commands and services load encoders the same way.
 */
final class EncoderSource {

    @ArgGroup(exclusive = true, multiplicity = "1")
    Choice choice;

    static final class Choice {
        @Option(names = "--checkpoint", paramLabel = "CKPT", description = "A MoCo4J checkpoint (pretrain output or ./moco4j import), or a PyTorch/safetensors file import understands.")
        Path checkpoint;

        @Option(names = "--random-init", paramLabel = "PRESET", description = "Baseline: a randomly initialised encoder of this preset.")
        String randomPreset;

        @Option(names = "--raw-pixels", description = "Baseline: the normalised pixels themselves as features.")
        boolean rawPixels;
    }

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed of --random-init (default 0).")
    long seed;

    @Mixin
    PrecisionOption precision;

    /**
     * Opens the chosen encoder producing {@code layer} features at {@code imageSize} (null: the checkpoint's
     * training size), {@code batchSize} images per forward pass.
     */
    Encoder open(FeatureLayer layer, Integer imageSize, int batchSize) {
        Encoder.Options options = Encoder.Options.defaults().withDevice(device).withLayer(layer).withImageSize(imageSize)
                .withBatchSize(batchSize).withPrecision(precision.orFp32());
        Encoder opened = choice.rawPixels ? Encoder.rawPixels(options)
                : choice.randomPreset != null ? Encoder.randomInit(choice.randomPreset, seed, options)
                : Encoder.load(choice.checkpoint, options);
        PrecisionOption.announce(opened);
        return opened;
    }
}
