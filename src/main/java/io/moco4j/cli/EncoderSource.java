package io.moco4j.cli;


import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.eval.FeatureFunction;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.model.Encoder;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.Encoders;
import io.moco4j.util.Devices;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

/**
 * The encoder an evaluation command scores: a MoCo4J checkpoint's query encoder, or, for baselines,
 * a randomly initialised encoder of a preset or the raw pixels.
 */
final class EncoderSource {

    @ArgGroup(exclusive = true, multiplicity = "1")
    Choice choice;

    static final class Choice {
        @Option(names = "--checkpoint", paramLabel = "CKPT", description = "A MoCo4J checkpoint (pretrain output or ./moco4j import).")
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

    /** An opened encoder with the configuration it was trained with. */
    record Opened(NDManager manager, Encoder encoder, MocoConfig config, String description) implements AutoCloseable {
        FeatureFunction features(FeatureLayer layer) {
            if (encoder == null) {
                if (layer == FeatureLayer.HEAD) {
                    throw new UserException("--features head needs an encoder; raw pixels have no head");
                }
                return images -> images.reshape(images.getShape().get(0), -1);
            }
            return FeatureFunction.of(encoder, layer);
        }

        int imageSize() {
            return config.train().imageSize();
        }

        @Override
        public void close() {
            manager.close();
        }
    }

    Opened open() {
        NDManager manager = NDManager.newBaseManager(Devices.parse(device));
        try {
            if (choice.rawPixels) {
                MocoConfig cfg = ConfigLoader.defaults().preset("cpu-small").build();
                return new Opened(manager, null, cfg, "raw pixels");
            }
            if (choice.randomPreset != null) {
                MocoConfig cfg = ConfigLoader.defaults().preset(choice.randomPreset).build();
                Encoder encoder = Encoders.create(cfg, manager, seed);
                return new Opened(manager, encoder, cfg, "a randomly initialised " + cfg.model().arch() + " (" + choice.randomPreset + ", seed " + seed + ")");
            }
            Checkpoints.Loaded ckpt = Checkpoints.load(choice.checkpoint);
            // Imported encoder-only checkpoints may have no head, whatever the stored preset says.
            Encoder encoder = ckpt.openQueryEncoder(manager);
            return new Opened(manager, encoder, ckpt.config(), "the query encoder of " + choice.checkpoint);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

}
