package io.moco4j.cli;

import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.DataSources;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.ResumeCandidates;
import io.moco4j.train.Pretraining;
import io.moco4j.train.RunDirectory;
import io.moco4j.train.StopSignal;
import io.moco4j.dist.BnGroups;
import io.moco4j.dist.MpiJob;
import io.moco4j.dist.MpiLauncher;
import io.moco4j.dist.OpenMpi;
import java.util.ArrayList;
import java.util.List;
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
        description = {"Self-supervised MoCo (v1, v2, v3) pretraining of an image encoder on a folder of images.",
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
            description = "moco-v1, moco-v2, cifar10-demo, cpu-small, builtin, moco-v3-r50(-300ep|-1000ep), cifar10-v3 or cpu-small-v3. Default: builtin (cpu-small with a 1024-key queue) on the built-in set, moco-v2 on a folder.")
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

    @Option(names = "--processes", paramLabel = "N", defaultValue = "1",
            description = "Data-parallel on N local processes through Open MPI's mpirun (train.batch_size is the global "
                    + "batch). For several machines run mpirun -np N --hostfile ... ./moco4j pretrain ... instead.")
    int processes;

    @Option(names = "--stop-timeout", paramLabel = "SECONDS", defaultValue = "60",
            description = "With --processes: after Ctrl-C, SIGTERM or SIGHUP, how long the ranks get to finish their step "
                    + "and save before the whole job is ended (default 60).")
    int stopTimeout;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

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
            if (preset != null) {
                requireSameVersion(ConfigLoader.defaults().preset(preset).build(), last);
            }
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
        if (processes > 1 && !OpenMpi.launchedByMpirun()) {
            BnGroups.perRank(cfg.version(), cfg.moco().bnSplits(), cfg.train().batchSize(), processes); // refused here, before N JVMs start, when the groups do not divide
            return launchRanks(runDir);
        }
        StopSignal stop = StopSignal.install();
        Pretraining.Request request = new Pretraining.Request(runDir, cfg, Devices.parse(device), resume,
                TrainingData.open(cfg), stop, System.out, Long.MAX_VALUE);
        if (!OpenMpi.launchedByMpirun()) {
            return stop.exitCode(Pretraining.run(request));
        }
        if (out == null) {
            throw new UserException("several processes need --out: every rank must name the same run directory");
        }
        OpenMpi ranks = OpenMpi.start();
        try {
            int exit = stop.exitCode(Pretraining.run(request, ranks));
            System.out.printf(java.util.Locale.ROOT, "rank %d: %.1f s inside %d collectives (transfer and waiting for "
                    + "the other ranks)%n", ranks.rank(), ranks.collectiveSeconds(), ranks.collectiveCalls());
            return exit;
        } catch (RuntimeException | Error e) {
            if (ranks.size() > 1) { // one rank's failure ends the job instead of leaving the others waiting
                ranks.abort(e instanceof UserException ? 2 : 1, e.getMessage() == null ? e.toString() : e.getMessage());
            }
            throw e;
        } finally {
            ranks.close();
        }
    }

    /** {@code --processes N}: this same command on N ranks under mpirun, with the run directory fixed for all. */
    private int launchRanks(Path runDir) throws Exception {
        if (stopTimeout < 1) {
            throw new UserException("--stop-timeout must be at least 1 second, got " + stopTimeout);
        }
        java.nio.file.Path mpirun = MpiLauncher.requireMpirun();
        List<String> args = new ArrayList<>();
        List<String> original = spec.commandLine().getParseResult().originalArgs();
        for (int i = 0; i < original.size(); i++) {
            String a = original.get(i);
            if (a.equals("--processes")) {
                i++;
            } else if (!a.startsWith("--processes=")) {
                args.add(a);
            }
        }
        if (out == null) {
            args.add("--out");
            args.add(runDir.toString());
        }
        if (!args.contains("pretrain")) {
            args.add(0, "pretrain");
        }
        List<String> cmd = MpiLauncher.command(mpirun, processes, MpiLauncher.javaCommand(Main.class.getName(), args));
        System.out.println("Starting " + processes + " processes: " + String.join(" ", cmd.subList(0, cmd.indexOf("-np") + 2))
                + " ...");
        return MpiJob.run(cmd, java.time.Duration.ofSeconds(stopTimeout), System.err);
    }

    /**
     * A resumed run keeps its stored settings, so a --preset given with --resume can only be a mistake when it names
     * another MoCo version (e.g. a v3 run resumed with a v2 preset): refused before anything starts.
     */
    private void requireSameVersion(MocoConfig presetConfig, Checkpoints.Loaded last) {
        if (presetConfig.version() != last.config().version()) {
            throw new UserException("--preset " + preset + " is MoCo v" + presetConfig.version() + " but " + last.file()
                    + " is a MoCo v" + last.config().version() + " run; drop --preset to resume it with its own settings,"
                    + " or start a new run in another --out");
        }
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
