package io.moco4j.cli;

import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.DataSources;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.ResumeCandidates;
import io.moco4j.train.Pretraining;
import io.moco4j.train.RunDirectory;
import io.moco4j.train.StopSignal;
import io.moco4j.train.TrainingData;
import io.moco4j.util.Devices;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "pretrain", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Self-supervised MoCo pretraining of a ResNet encoder on a folder of images.",
                "With no --data it trains on the built-in generated image set with the builtin preset (cpu-small, 1024 keys)."})
final class PretrainCommand implements Callable<Integer> {

    @Option(names = "--data", paramLabel = "DIR",
            description = "Training images: a folder (class sub-folders or flat), CIFAR binaries, or builtin[:SIZE[:COUNT]]. Default: builtin.")
    Path data;

    @Option(names = "--val", paramLabel = "DIR", description = "Labeled images for the kNN monitor (train.knn_every > 0); builtin[:SIZE[:COUNT]] for the generated test split.")
    Path val;

    @Option(names = "--out", paramLabel = "DIR", description = "Run directory. Default: runs/<preset>-<date-time>.")
    Path out;

    @Option(names = "--preset", paramLabel = "P",
            description = "moco-v1, moco-v2, cifar10-demo, cpu-small or builtin. Default: builtin (cpu-small with a 1024-key queue) on the built-in set, moco-v2 on a folder.")
    String preset;

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file merged over the preset.")
    Path config;

    @Option(names = "--epochs", paramLabel = "N") Integer epochs;
    @Option(names = "--batch-size", paramLabel = "N") Integer batchSize;
    @Option(names = "--lr", paramLabel = "X") Double lr;
    @Option(names = "--seed", paramLabel = "N") Long seed;
    @Option(names = "--workers", paramLabel = "N", description = "Loader threads (0 = all cores).") Integer workers;

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;

    @Option(names = "--unlabeled", description = "Ignore sub-folder names: every image is unlabeled.")
    boolean unlabeled;

    @Option(names = "--strict", description = "Stop on corrupt images instead of skipping them with a warning.")
    boolean strict;

    @Option(names = "--resume", description = "Continue the run in --out from checkpoints/last.ckpt.")
    boolean resume;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override any setting, e.g. --set moco.queue_size=8192.")
    Map<String, String> overrides = new LinkedHashMap<>();

    @Override
    public Integer call() throws Exception {
        String presetName = preset != null ? preset : data == null || isBuiltin(data) ? "builtin" : "moco-v2";
        Map<String, String> all = new LinkedHashMap<>(overrides);
        if (epochs != null) all.put("train.epochs", epochs.toString());
        if (batchSize != null) all.put("train.batch_size", batchSize.toString());
        if (lr != null) all.put("optim.lr", lr.toString());
        if (seed != null) all.put("train.seed", seed.toString());
        if (workers != null) all.put("train.workers", workers.toString());
        if (data != null) all.put("data.path", quoted(absoluteUnlessBuiltin(data)));
        if (val != null) all.put("data.val", quoted(absoluteUnlessBuiltin(val)));
        if (unlabeled) all.put("data.unlabeled", "true");
        if (strict) all.put("data.strict", "true");

        MocoConfig cfg;
        Path runDir;
        if (resume) {
            if (out == null) {
                throw new UserException("--resume needs --out pointing at the run directory to continue");
            }
            runDir = out;
            // Only the stored settings are needed here; Pretraining reads the tensors once (falling back if damaged).
            Checkpoints.Loaded last = ResumeCandidates.newestWithMetadata(RunDirectory.of(runDir)).checkpoint();
            last.requirePretraining();
            cfg = Pretraining.resumedConfig(last.config(), all);
        } else {
            ConfigLoader loader = ConfigLoader.defaults().preset(presetName);
            if (config != null) {
                loader.file(config);
            }
            cfg = loader.setAll(all).build();
            runDir = out != null ? out
                    : Path.of("runs", presetName + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        }
        Pretraining.Request request = new Pretraining.Request(runDir, cfg, Devices.parse(device), resume,
                TrainingData.open(cfg), StopSignal.install(), System.out, Long.MAX_VALUE);
        Pretraining.Outcome outcome = Pretraining.run(request);
        return outcome.exitCode();
    }

    /** A path as a YAML string scalar, whatever characters it holds. */
    private static String quoted(Path p) {
        return "'" + p.toString().replace("'", "''") + "'";
    }

    private static boolean isBuiltin(Path p) {
        return DataSources.isBuiltin(p.toString());
    }

    private static Path absoluteUnlessBuiltin(Path p) {
        return isBuiltin(p) ? p : p.toAbsolutePath().normalize();
    }
}
