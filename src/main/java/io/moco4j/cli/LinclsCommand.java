package io.moco4j.cli;

import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.LinearProbe;
import io.moco4j.eval.LinearProbeConfig;
import io.moco4j.eval.ProbeTransforms;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "lincls", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Linear classification protocol (official main_lincls.py): a new fc on the frozen backbone",
                "in eval mode; SGD lr 30, momentum 0.9, no weight decay, batch 256, 100 epochs, lr x0.1 at 60 and 80."})
final class LinclsCommand implements Callable<Integer> {
    @Mixin
    EncoderSource source;

    @Option(names = "--train", required = true, paramLabel = "DIR") String train;
    @Option(names = "--val", required = true, paramLabel = "DIR") String val;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run directory for metrics and classifiers.")
    Path out;
    @Option(names = "--epochs", defaultValue = "100") int epochs;
    @Option(names = "--milestones", split = ",", paramLabel = "E,E",
            description = "Epochs where the lr is multiplied by 0.1 (default: 60%% and 80%% of --epochs).")
    List<Integer> milestones;
    @Option(names = "--lr", defaultValue = "30") double lr;
    @Option(names = "--batch-size", defaultValue = "256") int batchSize;
    @Option(names = "--fast", description = "Cache features once (no augmentation) and train the fc on them.")
    boolean fast;
    @Option(names = "--image-size", paramLabel = "PX", description = "Default: the checkpoint's training size.")
    Integer imageSize;

    @Override
    public Integer call() {
        ImageDataset trainSet = DataSources.open(train, DataSplit.TRAIN, false, false);
        ImageDataset valSet = DataSources.open(val, DataSplit.TEST, false, false);
        List<Integer> ms = milestones != null ? milestones : List.of(Math.round(epochs * 0.6f), Math.round(epochs * 0.8f));
        LinearProbeConfig cfg = LinearProbeConfig.defaults().withEpochs(epochs, new ArrayList<>(ms)).withLr(lr)
                .withBatchSize(batchSize).withAugment(!fast);
        try (EncoderSource.Opened enc = source.open()) {
            int size = imageSize != null ? imageSize : enc.imageSize();
            System.out.println(ProbeTransforms.describe(ProbeTransforms.eval(size)));
            LinearProbe.Result r = enc.encoder() != null
                    ? LinearProbe.run(enc.encoder(), trainSet, valSet, ProbeTransforms.train(size), ProbeTransforms.eval(size),
                            cfg, out, System.out)
                    // Raw pixels: nothing is frozen, the classifier sees the normalised pixels.
                    : LinearProbe.run(enc.features(cfg.layer()), Map.of(), trainSet, valSet, ProbeTransforms.train(size),
                            ProbeTransforms.eval(size), cfg, enc.manager(), out, System.out);
            System.out.printf(Locale.ROOT, "Linear probe of %s: best top-1 %.2f%% (epoch %d), last top-1 %.2f%%; see %s%n",
                    enc.description(), r.bestTop1(), r.bestEpoch(), r.lastTop1(), r.runDir());
        }
        return 0;
    }
}
