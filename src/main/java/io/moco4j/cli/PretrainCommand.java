package io.moco4j.cli;

import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.config.DataDrivenSettings;
import io.moco4j.data.DataProfile;
import io.moco4j.data.DataSources;
import io.moco4j.interop.InitFromFile;
import io.moco4j.data.ImageDataset;
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
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "pretrain", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"MoCo (v1, v2, v3) pretraining of an image encoder.",
                "Self-supervised: trains on a folder of images, no labels needed.",
                "With no --data it trains on the built-in generated image set with the builtin preset (cpu-small, 1024 keys)."})
final class PretrainCommand implements Callable<Integer> {

    @Option(names = "--data", paramLabel = "DIR",
            description = "Training images: a folder (class sub-folders or flat), CIFAR binaries, or builtin[:SIZE[:COUNT]]. Default: builtin.")
    Path data;

    @Option(names = "--val", paramLabel = "DIR", description = "Labeled images for the kNN monitor (train.knn_every > 0); builtin[:SIZE[:COUNT]] for the generated test split.")
    Path val;

    @Option(names = "--out", paramLabel = "DIR", description = "Run directory. Default: runs/<preset>-<date-time>.")
    Path out;

    @Option(names = "--preset", paramLabel = "P", completionCandidates = PresetNames.class,
            description = "Settings for a model, data size and machine: ${COMPLETION-CANDIDATES}. Default: builtin (cpu-small with a 1024-key queue) on the built-in set, moco-v2 on a folder.")
    String preset;

    @Option(names = "--config", paramLabel = "FILE", description = "YAML file merged over the preset.")
    Path config;

    @Option(names = "--epochs", paramLabel = "N",
            description = "Epochs of the whole schedule (train.epochs; a warm-up that does not fit is shortened). On --resume: the new total.")
    Integer epochs;
    @Option(names = "--batch-size", paramLabel = "N",
            description = "Images per step, over all processes (train.batch_size).")
    Integer batchSize;
    @Option(names = "--lr", paramLabel = "X",
            description = "Base learning rate (optim.lr); presets with optim.scale_lr use X x batch size / 256.")
    Double lr;
    @Option(names = "--seed", paramLabel = "N",
            description = "Seed of the initial weights, data order, augmentations and Shuffle BN (train.seed): same seed, same run.")
    Long seed;
    @Option(names = "--workers", paramLabel = "N", description = "Loader threads (0 = all cores).") Integer workers;

    @Option(names = "--time-budget", paramLabel = "T",
            description = "Fit the whole run into T of wall time (e.g. 90s, 30m, 1h, 1h30m): the first steps are timed and the"
                    + " schedule is shrunk or stretched to end inside T, evaluations included; re-planned if the machine slows.")
    String timeBudget;

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;

    @Mixin
    PrecisionOption precision;

    @Option(names = "--unlabeled", description = "Ignore sub-folder names: every image is unlabeled.")
    boolean unlabeled;

    @Option(names = "--strict", description = "Stop on corrupt images instead of skipping them with a warning.")
    boolean strict;

    @Option(names = "--resume", description = "Continue the run in --out from checkpoints/last.ckpt.")
    boolean resume;

    @Option(names = "--init-from", paramLabel = "FILE",
            description = "Start a new run from pretrained weights: a MoCo4J checkpoint, an official MoCo v1/v2/v3 checkpoint,"
                    + " torchvision ResNet or timm ViT weights. The architecture is the file's; the queue, optimizer,"
                    + " schedules and epochs are this run's.")
    Path initFrom;

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
        if (timeBudget != null) all.put("train.time_budget", quoted(Path.of(timeBudget.strip())));
        precision.given().ifPresent(p -> all.put("train.precision", p.label()));
        if (data != null) all.put("data.path", quoted(absoluteUnlessBuiltin(data)));
        if (val != null) all.put("data.val", quoted(absoluteUnlessBuiltin(val)));
        if (unlabeled) all.put("data.unlabeled", "true");
        if (strict) all.put("data.strict", "true");

        MocoConfig cfg;
        Path runDir;
        InitFromFile initial = null;
        if (resume && initFrom != null) {
            throw new UserException("--init-from starts a new run from a file's weights and --resume continues a run; use one of them");
        }
        List<String> notes = List.of();
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
            ConfigLoader loader;
            if (preset == null && data != null) {
                // no preset named: the settings come from the data (printed, and noted in config.yaml)
                DataDriven chosen = DataDriven.of(ConfigLoader.defaults().preset(DataDrivenSettings.BASE).setAll(all).build(),
                        all.keySet(), config != null);
                chosen.lines().forEach(System.out::println);
                notes = chosen.lines();
                presetName = "data";
                loader = ConfigLoader.defaults().preset(DataDrivenSettings.BASE).setAll(chosen.overrides());
            } else {
                loader = ConfigLoader.defaults().preset(presetName);
            }
            if (config != null) {
                loader.file(config);
            }
            cfg = loader.setAll(all).build();
            if (initFrom != null) { // the architecture is the file's; a preset's other one is replaced, a user's refused
                initial = InitFromFile.read(initFrom, all, cfg);
                cfg = initial.configure(cfg, ConfigLoader.defaults().preset(presetName).build(), System.out);
            }
            runDir = out != null ? out
                    : Path.of("runs", presetName + "-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        }
        if (processes > 1 && !OpenMpi.launchedByMpirun()) {
            BnGroups.perRank(cfg.version(), cfg.moco().bnSplits(), cfg.train().batchSize(), processes); // refused here, before N JVMs start, when the groups do not divide
            return launchRanks(runDir);
        }
        StopSignal stop = StopSignal.install();
        Pretraining.Request request = new Pretraining.Request(runDir, cfg, Devices.parse(device), resume,
                TrainingData.open(cfg), stop, System.out, Long.MAX_VALUE, initial, notes);
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

    /** The data-driven choices for a run: read the training set's profile, choose, leave the user's keys alone. */
    private record DataDriven(Map<String, String> overrides, List<String> lines) {
        static DataDriven of(MocoConfig provisional, java.util.Set<String> userKeys, boolean configFile) {
            ImageDataset train = TrainingData.open(provisional).train();
            DataProfile profile = DataProfile.read(train);
            List<DataDrivenSettings.Choice> choices = DataDrivenSettings.choose(profile, io.moco4j.method.QueueCoverage::largestQueue);
            java.util.Set<String> mine = new java.util.HashSet<>();
            userKeys.forEach(k -> mine.add(k.replace('-', '_')));
            List<String> lines = new ArrayList<>(DataDrivenSettings.lines(profile, choices, mine));
            if (configFile) {
                lines.add("  (values in --config override these)");
            }
            return new DataDriven(DataDrivenSettings.overrides(choices, mine), lines);
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
