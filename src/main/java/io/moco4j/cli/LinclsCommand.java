package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.data.DataSources;
import io.moco4j.data.DataSplit;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.eval.LinearProbe;
import io.moco4j.eval.LinearProbeConfig;
import io.moco4j.eval.ProbeTransforms;
import io.moco4j.util.UserException;
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
        description = {"Linear classification on the frozen backbone.",
                "A new fc on the frozen backbone in eval mode.",
                "--protocol v1 (MoCo v1/v2 main_lincls.py): SGD lr 30, momentum 0.9, no weight decay, batch 256,",
                "100 epochs, lr x0.1 at 60% and 80%. --protocol v3 (moco-v3 main_lincls.py, ResNet): lr 0.1 x 1024/256,",
                "batch 1024, 90 epochs, cosine per epoch; for a ViT lr 3 x 1024/256 on the cls token. Default: by the checkpoint."})
final class LinclsCommand implements Callable<Integer> {
    @Mixin
    EncoderSource source;

    @Option(names = "--train", required = true, paramLabel = "DIR") String train;
    @Option(names = "--val", required = true, paramLabel = "DIR") String val;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run directory for metrics and classifiers.")
    Path out;
    @Option(names = "--protocol", paramLabel = "v1|v3", description = "v1 (MoCo v1/v2) or v3 (moco-v3). Default: the checkpoint's version.")
    String protocol;
    @Option(names = "--epochs", paramLabel = "N", description = "Default: the protocol's (100 for v1, 90 for v3).") Integer epochs;
    @Option(names = "--milestones", split = ",", paramLabel = "E,E",
            description = "v1: epochs where the lr is multiplied by 0.1 (default: 60%% and 80%% of --epochs).")
    List<Integer> milestones;
    @Option(names = "--lr", paramLabel = "X", description = "Default: the protocol's (30 for v1, 0.4 for v3).") Double lr;
    @Option(names = "--batch-size", paramLabel = "N", description = "Default: the protocol's (256 for v1, 1024 for v3).") Integer batchSize;
    @Option(names = "--fast", description = "Cache features once (no augmentation) and train the fc on them.")
    boolean fast;
    @Option(names = "--image-size", paramLabel = "PX", description = "Default: the checkpoint's training size.")
    Integer imageSize;

    /** The chosen protocol with the user's --epochs, --milestones, --lr and --batch-size on top. */
    LinearProbeConfig protocol(int mocoVersion, boolean vit) {
        String p = protocol != null ? protocol.trim().toLowerCase(Locale.ROOT) : mocoVersion >= 3 ? "v3" : "v1";
        LinearProbeConfig base = switch (p) {
            case "v1", "v2" -> LinearProbeConfig.defaults();
            case "v3" -> vit ? LinearProbeConfig.mocoV3Vit() : LinearProbeConfig.mocoV3Resnet();
            default -> throw new UserException("--protocol is '" + protocol + "'; choose v1 (MoCo v1/v2) or v3 (moco-v3)");
        };
        int e = epochs != null ? epochs : base.epochs();
        List<Integer> ms = milestones != null ? milestones
                : base.decay() == LinearProbeConfig.LrDecay.STEP ? List.of(Math.round(e * 0.6f), Math.round(e * 0.8f)) : List.of();
        return base.withEpochs(e, new ArrayList<>(ms)).withLr(lr != null ? lr : base.lr())
                .withBatchSize(batchSize != null ? batchSize : base.batchSize()).withAugment(!fast);
    }

    @Override
    public Integer call() {
        ImageDataset trainSet = DataSources.open(train, DataSplit.TRAIN, false, false);
        ImageDataset valSet = DataSources.open(val, DataSplit.TEST, false, false);
        try (Encoder enc = source.open(FeatureLayer.BACKBONE, imageSize, batchSize != null ? batchSize : 256)) {
            LinearProbeConfig cfg = protocol(enc.config().version(), enc.config().model().arch().startsWith("vit"));
            int size = enc.imageSize();
            System.out.println(ProbeTransforms.describe(ProbeTransforms.eval(size)));
            // The frozen backbone runs in --precision (autocast around its forward only); its features come back as
            // float32, so the linear classifier, its loss and its SGD run in float32 as in main_lincls.py (which has
            // no autocast at all). Raw pixels: nothing is frozen, the classifier sees the normalised pixels.
            LinearProbe.Result r = LinearProbe.run(enc.features(cfg.layer()),
                    enc.network() != null ? enc.network().stateDict() : Map.of(), trainSet, valSet,
                    ProbeTransforms.train(size), ProbeTransforms.eval(size), cfg, enc.manager(), out, System.out);
            System.out.printf(Locale.ROOT, "Linear probe of %s: best top-1 %.2f%% (epoch %d), last top-1 %.2f%%; see %s%n",
                    enc.description(), r.bestTop1(), r.bestEpoch(), r.lastTop1(), r.runDir());
        }
        return 0;
    }
}
