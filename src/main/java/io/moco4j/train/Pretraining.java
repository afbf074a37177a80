package io.moco4j.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.CoreShare;
import io.moco4j.dist.SingleProcess;
import io.moco4j.eval.EpochEvaluator;
import io.moco4j.io.AtomicFiles;
import io.moco4j.io.MetricsLog;
import io.moco4j.io.TensorArchive;
import io.moco4j.method.Encoders;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.method.MomentumSchedule;
import io.moco4j.method.QueueCoverage;
import io.moco4j.data.ImageDataset;
import io.moco4j.eval.DatasetSubset;
import io.moco4j.eval.OnlineProbe;
import io.moco4j.optim.LrSchedule;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.AutocastSupport;
import io.moco4j.precision.Precision;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs MoCo pretraining end to end: data, encoders, queue, optimizer, the step loop, metrics,
 * checkpoints, resume, Ctrl-C and NaN handling. The numerics live in {@link MomentumContrast}; this
 * class wires the parts and keeps the run directory consistent.
 */
public final class Pretraining {
    private static final Logger LOG = LoggerFactory.getLogger(Pretraining.class);

    /** Settings that may change when a run is resumed; anything else must match the checkpoint. */
    private static final Set<String> RESUMABLE_CHANGES = Set.of("train.epochs", "train.workers", "train.log_every",
            "train.checkpoint_every", "train.knn_every", "train.knn_k", "train.knn_t", "train.knn_train_subset",
            "train.knn_val_subset", "train.allow_rank_change", "train.time_budget", "train.online_probe", "train.probe_lr",
            "train.precision", "data.strict", "data.path", "data.val",
            "data.max_pixels");

    /**
     * @param maxGlobalSteps stop (with a checkpoint, as for Ctrl-C) once this many steps are done; Long.MAX_VALUE for none
     * @param initialWeights weights a new run starts from ({@code --init-from}), or null for the seed's
     * @param configNotes comment lines written above the settings in the run's config.yaml (e.g. why they were chosen)
     */
    public record Request(Path runDir, MocoConfig config, Device device, boolean resume, TrainingData data,
                          StopSignal stop, PrintStream out, long maxGlobalSteps, InitialWeights initialWeights,
                          java.util.List<String> configNotes) {

        /** A run that starts from its seed (or resumes). */
        public Request(Path runDir, MocoConfig config, Device device, boolean resume, TrainingData data, StopSignal stop,
                       PrintStream out, long maxGlobalSteps) {
            this(runDir, config, device, resume, data, stop, out, maxGlobalSteps, null, java.util.List.of());
        }
    }

    public enum Status { COMPLETED, STOPPED, DIVERGED }

    public record Outcome(Status status, TrainingProgress progress, float lastLoss) {
        public int exitCode() {
            return status == Status.DIVERGED ? 1 : 0;
        }
    }

    private Pretraining() {}

    /** The stored config with the user's overrides applied, refusing changes that would break continuity. */
    public static MocoConfig resumedConfig(MocoConfig stored, Map<String, String> overrides) {
        for (String key : overrides.keySet()) {
            if (!RESUMABLE_CHANGES.contains(key.replace('-', '_'))) {
                throw new UserException("--resume continues the run with its saved settings; '" + key
                        + "' cannot change on resume (allowed: " + String.join(", ", RESUMABLE_CHANGES.stream().sorted().toList()) + ")");
            }
        }
        return ConfigLoader.of(stored).setAll(overrides).build();
    }

    public static Outcome run(Request request) throws IOException {
        return run(request, SingleProcess.INSTANCE);
    }

    /**
     * Data-parallel pretraining: every rank of {@code ranks} runs this with the same request. Each rank trains on
     * its share of every global batch ({@code train.batch_size}); all start from rank 0's model, average gradients
     * every step and stop at the same step. Only rank 0 writes the run directory (config, metrics, checkpoints)
     * and runs the kNN monitor; every rank reads the checkpoint it resumes from (on several machines the run
     * directory must be on a shared file system).
     */
    public static Outcome run(Request request, Collectives ranks) throws IOException {
        if (ranks.size() > 1) {
            request.out().println(CoreShare.forRank(ranks).apply().describe(ranks));
            if (!ranks.isRoot()) { // rank 0 reports progress; the others train quietly
                request = new Request(request.runDir(), request.config(), request.device(), request.resume(),
                        request.data(), request.stop(), new PrintStream(java.io.OutputStream.nullOutputStream()),
                        request.maxGlobalSteps(), request.initialWeights(), request.configNotes());
            }
        }
        Outcome outcome = runRank(request, ranks);
        if (ranks.size() > 1) {
            ranks.barrier(); // rank 0's last checkpoint is on disk before any rank returns
        }
        return outcome;
    }

    private static Outcome runRank(Request request, Collectives ranks) throws IOException {
        MocoConfig cfg = request.config();
        boolean writer = ranks.isRoot();
        RunDirectory dir = RunDirectory.of(request.runDir());
        Checkpoints.Loaded resumeFrom = null;
        if (request.resume() && request.initialWeights() != null) {
            throw new UserException("--init-from starts a new run and --resume continues one; use one of them");
        }
        if (request.resume()) {
            resumeFrom = ResumeCandidates.load(dir, request.out()); // last.ckpt, else the newest intact periodic one
            resumeFrom.requirePretraining();
            RankChange.check(resumeFrom, ranks.size(), cfg).ifPresent(note -> request.out().println(note));
        } else if (writer) {
            dir.createNew();
        }
        if (writer) {
            writeConfig(dir, request, resumeFrom);
        }
        if (ranks.size() > 1) {
            ranks.barrier(); // the run directory exists before anyone trains
        }

        TrainingData data = request.data();
        try (NDManager root = NDManager.newBaseManager(request.device());
             ViewLoader loader = data.trainLoader(cfg, ranks);
             EpochEvaluator monitor = writer ? data.knnMonitor(cfg) : EpochEvaluator.NONE;
             MetricsLog metrics = writer ? new MetricsLog(dir.metrics()) : MetricsLog.discarding();
             Optimizer optimizer = Optimizers.from(cfg);
             MomentumContrast moco = resumeFrom == null ? fresh(cfg, root, request) : restored(cfg, root, resumeFrom, optimizer)) {
            moco.distribute(ranks);
            moco.setPrecision(AutocastSupport.require(request.device(), Precision.parse(cfg.train().precision())));
            precisionNote(moco.precision(), resumeFrom).ifPresent(request.out()::println);
            restoreLossScaler(moco, resumeFrom).ifPresent(request.out()::println);
            StateSync.startTogether(ranks, moco);
            TrainingProgress start = resumeFrom == null ? TrainingProgress.START : resumeFrom.progress();
            if (resumeFrom != null) {
                request.out().printf(Locale.ROOT, "Resuming %s at epoch %d, step %d.%n", dir.root(), start.epoch() + 1, start.stepInEpoch());
            } else {
                request.out().printf(Locale.ROOT, "Training %s on %s (%d images), %d epochs of %d steps, on %s; run directory %s%n",
                        describe(cfg), data.description(), data.train().size(), cfg.train().epochs(), loader.batchesPerEpoch(),
                        request.device(), dir.root());
            }
            if (cfg.hasQueue()) {
                QueueCoverage.warning(cfg.moco().queueSize(), cfg.keysPerStep(), loader.batchesPerEpoch(), data.train().size())
                        .ifPresent(w -> request.out().println("Warning: " + w));
            }
            Loop loop = new Loop(request, cfg, dir, loader, monitor, metrics, optimizer, moco, RunOrigin.of(request, resumeFrom));
            try (OnlineProbe probe = onlineProbe(cfg, data, moco, writer, ranks.size(), request.out())) {
                if (probe != null && resumeFrom != null) {
                    restoreProbe(probe, resumeFrom, root, request.out());
                }
                loop.probe = probe;
                loop.budget = timeBudget(cfg, dir, request.resume(), start, loader.batchesPerEpoch(), data, ranks,
                        probe == null ? 0 : probe.validationImages());
                return loop.run(start);
            }
        }
    }

    /**
     * The run's config.yaml. A new run (or a resumed one whose file is gone) writes it with its comments (provenance,
     * the data-driven choices and their reasons); a resume leaves it untouched unless settings changed, and then
     * keeps those comments and adds one line naming the changes ({@link RunConfigFile}).
     */
    private static void writeConfig(RunDirectory dir, Request request, Checkpoints.Loaded resumeFrom) throws IOException {
        if (resumeFrom != null && Files.isRegularFile(dir.config())) {
            String where = String.format(Locale.ROOT, "at epoch %d, step %d", resumeFrom.progress().epoch() + 1,
                    resumeFrom.progress().stepInEpoch());
            java.util.Optional<String> text = RunConfigFile.forResume(Files.readString(dir.config()), request.config(), where);
            if (text.isPresent()) {
                Files.writeString(dir.config(), text.get());
            }
            return;
        }
        Files.writeString(dir.config(), RunOrigin.yamlComment(request, resumeFrom)
                + RunConfigFile.forNewRun(request.configNotes(), request.config()));
    }

    /**
     * The online linear probe when {@code train.online_probe} is on, the training images have labels and --val is
     * given (with the same classes), on a single process; else null. With several processes the writer says in one
     * line that the probe is off: its gradients would have to be all-reduced like the encoder's, which it does not do.
     */
    private static OnlineProbe onlineProbe(MocoConfig cfg, TrainingData data, MomentumContrast moco, boolean writer,
                                           int processes, PrintStream out) {
        MocoConfig.Train t = cfg.train();
        if (!t.onlineProbe() || !writer || data.val() == null || !data.train().isLabeled() || !data.val().isLabeled()) {
            return null;
        }
        if (processes > 1) {
            out.printf(Locale.ROOT, "Note: no online probe with %d processes (it trains on one process only); the kNN"
                    + " monitor still runs. For a probe: --processes 1, or ./moco4j lincls on a checkpoint afterwards%n", processes);
            return null;
        }
        if (!data.train().classes().equals(data.val().classes())) {
            out.println("Note: no online probe: the training and --val sets have different classes");
            return null;
        }
        ImageDataset val = DatasetSubset.random(data.val(), t.knnValSubset(), t.seed() + 1);
        out.printf(Locale.ROOT, "Online linear probe on the pooled backbone features (%d classes, SGD lr %.3g), scored on %d"
                + " --val images every epoch (train.online_probe=false turns it off)%n", data.train().classes().size(), t.probeLr(), val.size());
        return new OnlineProbe(moco.encoderQ().featureDim(), data.train().classes().size(), t.probeLr(), t.seed(),
                moco.manager(), val, data.evalTransform(), t.batchSize());
    }

    /**
     * The probe's state from the checkpoint a run resumes from; a checkpoint without one (written before probes were
     * checkpointed, or by a run with the probe off) leaves it fresh, said in one line.
     */
    private static void restoreProbe(OnlineProbe probe, Checkpoints.Loaded ckpt, NDManager root, PrintStream out) {
        String notRestored;
        try (NDManager tmp = root.newSubManager()) {
            notRestored = probe.restore(ckpt.tensors(Checkpoints.ONLINE_PROBE, tmp));
        }
        if (notRestored != null) {
            out.println("Note: the online probe starts fresh: " + notRestored);
        }
    }

    /** The run's {@link TimeBudget}, or null without {@code train.time_budget}. */
    private static TimeBudget timeBudget(MocoConfig cfg, RunDirectory dir, boolean resume, TrainingProgress start,
                                         int stepsPerEpoch, TrainingData data, Collectives ranks, int probeImages)
            throws IOException {
        if (cfg.train().timeBudget().isBlank()) {
            return null;
        }
        if (ranks.size() > 1) {
            throw new io.moco4j.util.UserException("--time-budget plans one process's steps; drop it or --processes (several"
                    + " processes would each plan their own end)");
        }
        MocoConfig.Train t = cfg.train();
        boolean knn = t.knnEvery() > 0 && data.val() != null && data.train().isLabeled() && data.val().isLabeled();
        int knnImages = !knn ? 0 : (t.knnTrainSubset() > 0 ? Math.min(t.knnTrainSubset(), data.train().size()) : data.train().size())
                + (t.knnValSubset() > 0 ? Math.min(t.knnValSubset(), data.val().size()) : data.val().size());
        return TimeBudget.forRun(cfg, dir, resume, start, stepsPerEpoch, knnImages, probeImages);
    }

    /**
     * One line when the run is not plain float32 (what autocast covers), or when a resumed run changes precision:
     * the checkpoint's weights and optimizer state are float32 in every precision, so it continues from them.
     */
    static java.util.Optional<String> precisionNote(Precision precision, Checkpoints.Loaded resumeFrom) {
        String before = resumeFrom == null ? null : resumeFrom.precision();
        if (before != null && !before.equals(precision.label())) {
            return java.util.Optional.of("Resuming in " + precision + " a run trained in " + before
                    + " so far (weights and optimizer state are float32 in both; only the forward passes change).");
        }
        if (precision.mixed() && resumeFrom == null) {
            return java.util.Optional.of("Precision " + precision + ": encoder forward passes under libtorch's autocast;"
                    + " weights, gradients, optimizer, queue and loss in float32.");
        }
        return java.util.Optional.empty();
    }

    /**
     * An fp16 run resumed from a checkpoint with a loss-scaler state continues with that scale and clean-step count
     * (main_moco.py's {@code scaler.load_state_dict(checkpoint['scaler'])}); one without (a bf16 or fp32 run so far)
     * starts from GradScaler's defaults, said in one line. Other precisions keep no scaler.
     */
    static java.util.Optional<String> restoreLossScaler(MomentumContrast moco, Checkpoints.Loaded resumeFrom) {
        if (moco.lossScaler() == null || resumeFrom == null) {
            return java.util.Optional.empty();
        }
        Map<String, Object> state = resumeFrom.scalerState();
        if (state == null) {
            return java.util.Optional.of("The checkpoint holds no fp16 loss-scaler state: loss scaling starts again from "
                    + "GradScaler's defaults (scale 65536).");
        }
        moco.lossScaler().loadStateDict(state);
        return java.util.Optional.empty();
    }

    private static String describe(MocoConfig cfg) {
        String model = Encoders.isVit(cfg)
                ? String.format(Locale.ROOT, "%s, %s head", Encoders.vitSpec(cfg), cfg.model().head())
                : String.format(Locale.ROOT, "%s%s x%.2f, %s head", cfg.model().arch(),
                        cfg.model().cifarStem() ? " (CIFAR stem)" : "", cfg.model().width(), cfg.model().head());
        if (cfg.version() >= 3) {
            return String.format(Locale.ROOT, "MoCo v3: %s, predictor %d, m %.4g%s, T %.3g, %s, batch %d", model,
                    cfg.model().predictorHidden(), cfg.moco().momentum(), cfg.moco().momentumCosine() ? " (cosine to 1)" : "",
                    cfg.moco().temperature(), cfg.optim().name(), cfg.train().batchSize());
        }
        return String.format(Locale.ROOT, "MoCo v%d: %s, K %d, m %.4g, T %.3g, batch %d", cfg.version(), model,
                cfg.moco().queueSize(), cfg.moco().momentum(), cfg.moco().temperature(), cfg.train().batchSize());
    }

    /** A new run's model: from its seed, or with the weights of {@code --init-from} (each part said in one line). */
    private static MomentumContrast fresh(MocoConfig cfg, NDManager root, Request request) {
        MomentumContrast moco = MethodFactory.fresh(cfg, root);
        if (request.initialWeights() != null) {
            try {
                request.initialWeights().apply(moco, cfg).forEach(line -> request.out().println("Initial weights: " + line));
            } catch (RuntimeException e) {
                moco.close();
                throw e;
            }
        }
        return moco;
    }

    /** The model and optimizer state of a checkpoint, continuing exactly where it stopped. */
    private static MomentumContrast restored(MocoConfig cfg, NDManager root, Checkpoints.Loaded ckpt, Optimizer optimizer) {
        MomentumContrast moco = MethodFactory.restored(cfg, root, ckpt);
        try (NDManager tmp = root.newSubManager()) {
            optimizer.loadState(ckpt.tensors(Checkpoints.OPTIMIZER, tmp));
            optimizer.setStepCount(ckpt.optimizerSteps());
            return moco;
        } catch (RuntimeException e) {
            moco.close();
            throw e;
        }
    }

    /** The step loop and its bookkeeping. */
    private static final class Loop {
        private final Request request;
        private final MocoConfig cfg;
        private final RunDirectory dir;
        private final ViewLoader loader;
        private final EpochEvaluator monitor;
        private final MetricsLog metrics;
        private final Optimizer optimizer;
        private final MomentumContrast moco;
        private final LrSchedule schedule;
        private final MomentumSchedule momentum;
        private final int stepsPerEpoch;
        /** Where the run's weights came from ({@code --init-from}), kept in every checkpoint; null for none. */
        private final ObjectNode origin;
        /** Fits the run into train.time_budget; null without one. */
        TimeBudget budget;
        /** The online linear probe; null when off. */
        OnlineProbe probe;

        Loop(Request request, MocoConfig cfg, RunDirectory dir, ViewLoader loader, EpochEvaluator monitor,
             MetricsLog metrics, Optimizer optimizer, MomentumContrast moco, ObjectNode origin) {
            this.origin = origin;
            this.request = request;
            this.cfg = cfg;
            this.dir = dir;
            this.loader = loader;
            this.monitor = monitor;
            this.metrics = metrics;
            this.optimizer = optimizer;
            this.moco = moco;
            this.schedule = Schedules.from(cfg);
            this.momentum = Schedules.momentum(cfg);
            this.stepsPerEpoch = loader.batchesPerEpoch();
        }

        /** Whether to stop now: on several ranks, if any rank was asked to (all stop at the same step). */
        private boolean stopRequested() {
            Collectives ranks = moco.collectives();
            if (ranks.size() == 1) {
                return request.stop().requested();
            }
            float[] any = {request.stop().requested() ? 1 : 0};
            ranks.allReduceSum(any);
            return any[0] > 0;
        }

        private boolean writer() {
            return moco.collectives().isRoot();
        }

        /** Epochs of the run: the configured ones, or those the time budget plans (the last may be partial). */
        private int epochs() {
            return budget == null ? cfg.train().epochs() : budget.plannedEpochs();
        }

        /** Where step {@code globalStep}'s lr and momentum are read: its own position, or the budget's mapping. */
        private int[] schedulePosition(int epoch, int step, long globalStep) {
            return budget == null ? new int[] {epoch, step} : budget.schedulePosition(globalStep);
        }

        Outcome run(TrainingProgress start) throws IOException {
            long globalStep = start.globalStep();
            double elapsed = start.elapsedSeconds();
            float lastLoss = Float.NaN;
            try (ProgressReporter progress = new ProgressReporter(ProgressReporter.isTerminal(), request.out(), epochs(),
                    stepsPerEpoch, cfg.train().logEvery())) {
                if (request.initialWeights() != null && start.globalStep() == 0) {
                    evaluateStart(progress);
                }
                for (int epoch = start.epoch(); epoch < epochs(); epoch++) {
                    int first = epoch == start.epoch() ? start.stepInEpoch() : 0;
                    EpochStats stats = new EpochStats();
                    long epochStart = System.nanoTime();
                    progress.startEpoch(epoch, first);
                    try (NDManager epochManager = moco.manager().newSubManager();
                         ViewLoader.Epoch batches = loader.epoch(epoch, epochManager)) {
                        for (int step = 0; batches.hasNext(); step++) {
                            try (ViewBatch batch = batches.next()) {
                                if (step < first) {
                                    continue; // resuming mid-epoch: this batch was trained on before the stop
                                }
                                int[] at = schedulePosition(epoch, step, globalStep);
                                double lr = schedule.lr(at[0], at[1], stepsPerEpoch);
                                double m = momentum.at(at[0], at[1], stepsPerEpoch);
                                long t0 = System.nanoTime();
                                if (probe != null) { // before the step, on the features the step starts from (no gradient)
                                    probe.train(moco.encoderQ(), batch.view(0), batch.labels(),
                                            lr / cfg.optim().effectiveLr(cfg.train().batchSize()));
                                }
                                MomentumContrast.StepResult r = trainStep(batch, globalStep, lr, m);
                                double seconds = (System.nanoTime() - t0) / 1e9;
                                elapsed += seconds;
                                if (!Float.isFinite(r.loss())) {
                                    return diverged(progress, epoch, step, lr, r.loss(), globalStep);
                                }
                                globalStep++;
                                lastLoss = r.loss();
                                stats.add(r, lr);
                                double ips = batch.size() * (double) moco.collectives().size() / seconds;
                                progress.step(epoch, step + 1, r.loss(), r.acc1(), ips, lr);
                                if ((step + 1) % cfg.train().logEvery() == 0) {
                                    logStep(epoch, globalStep, r, lr, ips);
                                }
                                if (budget != null) {
                                    budget.stepDone(globalStep).ifPresent(line -> {
                                        progress.message(line);
                                        progress.setEpochs(epochs());
                                    });
                                }
                                // with a time budget the last epoch may end early: the plan ends at a step
                                boolean lastOfEpoch = step + 1 == stepsPerEpoch || (budget != null && budget.finished(globalStep));
                                boolean stop = !lastOfEpoch && stopRequested();
                                if (!lastOfEpoch && (stop || globalStep >= request.maxGlobalSteps())) {
                                    TrainingProgress p = new TrainingProgress(epoch, step + 1, globalStep, elapsed);
                                    if (writer()) {
                                        saveCheckpoint(p);
                                        if (budget != null) {
                                            TimeBudget.writeState(dir, budget.state(p.globalStep()));
                                        }
                                    }
                                    progress.message(stopMessage(p));
                                    return new Outcome(Status.STOPPED, p, lastLoss);
                                }
                                if (lastOfEpoch) {
                                    break;
                                }
                            }
                        }
                    }
                    TrainingProgress p = new TrainingProgress(epoch + 1, 0, globalStep, elapsed);
                    boolean knnRan = endEpoch(progress, epoch, stats, (System.nanoTime() - epochStart) / 1e9, p);
                    if (budget != null) {
                        budget.epochDone(globalStep, knnRan).ifPresent(progress::message);
                        progress.setEpochs(epochs());
                    }
                    if (stopRequested() || globalStep >= request.maxGlobalSteps()) {
                        if (epoch + 1 < epochs()) {
                            progress.message(stopMessage(p));
                            return new Outcome(Status.STOPPED, p, lastLoss);
                        }
                    }
                }
                String spent = budget == null ? "" : String.format(Locale.ROOT, " (%d steps; %.0f s of the %.0f s budget spent)",
                        globalStep, budget.elapsedSeconds(), budget.budgetSeconds());
                progress.message(String.format(Locale.ROOT, "Done: %d epochs in %.0f s of training%s. Encoder: %s",
                        epochs(), elapsed, spent, dir.lastCheckpoint()));
                return new Outcome(Status.COMPLETED, new TrainingProgress(epochs(), 0, globalStep, elapsed), lastLoss);
            }
        }

        /**
         * The monitor's "epoch 0": kNN of the initial weights before the first step, logged as an epoch record with
         * epoch -1 (charted at epoch 0) so the curve starts where the weights do.
         */
        private void evaluateStart(ProgressReporter progress) {
            if (!monitor.due(-1, cfg.train().epochs())) {
                return;
            }
            Map<String, Double> values = monitor.evaluate(moco.encoderQ(), -1);
            ObjectNode rec = MetricsLog.record("epoch").put("epoch", -1).put("epoch_seconds", 0.0).put("elapsed_seconds", 0.0);
            values.forEach(rec::put);
            rec.put("init_from", origin.path("file_name").asText());
            metrics.write(rec);
            if (values.containsKey("knn_top1")) {
                progress.message(String.format(Locale.ROOT, "epoch 0 (initial weights): kNN top-1 %.2f%%", values.get("knn_top1")));
            }
        }

        private MomentumContrast.StepResult trainStep(ViewBatch batch, long globalStep, double lr, double m) {
            try (NDManager step = moco.manager().newSubManager()) {
                NDArray v1 = batch.view(0);
                NDArray v2 = batch.view(batch.views().size() > 1 ? 1 : 0);
                v1.attach(step);
                v2.attach(step);
                return moco.train(v1, v2, globalStep, optimizer, lr, m);
            }
        }

        /** Logs, evaluates and checkpoints the end of an epoch; returns whether the kNN monitor ran. */
        private boolean endEpoch(ProgressReporter progress, int epoch, EpochStats stats, double seconds, TrainingProgress p)
                throws IOException {
            ObjectNode rec = MetricsLog.record("epoch").put("epoch", epoch).put("loss", stats.meanLoss())
                    .put("acc1", stats.meanAcc1()).put("acc5", stats.meanAcc5()).put("lr", stats.lastLr())
                    .put("epoch_seconds", seconds).put("elapsed_seconds", p.elapsedSeconds());
            String knn = "";
            boolean due = monitor.due(epoch, epochs());
            if (due) {
                Map<String, Double> values = monitor.evaluate(moco.encoderQ(), epoch);
                values.forEach(rec::put);
                if (values.containsKey("knn_top1")) {
                    knn = String.format(Locale.ROOT, ", kNN top-1 %.2f%%", values.get("knn_top1"));
                }
            }
            if (probe != null) {
                try {
                    Map<String, Double> values = probe.evaluate(moco.encoderQ());
                    values.forEach(rec::put);
                    knn += String.format(Locale.ROOT, ", probe top-1 %.2f%%", values.get("probe_top1"));
                } catch (RuntimeException e) { // a monitor: its failure is a warning, never the end of the run
                    LOG.warn("online probe evaluation failed at epoch {}: {}", epoch + 1, e.toString());
                    progress.message("Warning: the online probe's evaluation failed (" + e.getMessage() + "); training goes on");
                }
            }
            metrics.write(rec);
            if (moco.collectives().size() > 1) {
                // the ranks must still hold one model: a divergence stops the run before it is saved
                StateSync.verifyIdentical(moco.collectives(), StateSync.state(moco), "end of epoch " + (epoch + 1));
            }
            if (writer()) {
                saveCheckpoint(p);
                if (budget != null) {
                    TimeBudget.writeState(dir, budget.state(p.globalStep()));
                }
            }
            int every = cfg.train().checkpointEvery();
            if (writer() && every > 0 && (epoch + 1) % every == 0) {
                // A copy of last.ckpt, written atomically like every checkpoint.
                AtomicFiles.write(dir.epochCheckpoint(epoch + 1), out -> Files.copy(dir.lastCheckpoint(), out));
            }
            progress.endEpoch(String.format(Locale.ROOT, "epoch %d/%d: loss %.4f, acc1 %.2f%%, %.0f s, %.1f img/s%s",
                    epoch + 1, epochs(), stats.meanLoss(), stats.meanAcc1(), seconds,
                    stats.steps() * (double) cfg.train().batchSize() / seconds, knn));
            return due;
        }

        /** last.ckpt: the model, optimizer, progress, provenance and the online probe's state (when it runs). */
        private void saveCheckpoint(TrainingProgress p) throws IOException {
            try (NDManager tmp = moco.manager().newSubManager()) {
                Checkpoints.save(dir.lastCheckpoint(), cfg, moco, optimizer, p, origin, moco.lossScaler(),
                        probe == null ? Map.of() : probe.state(tmp));
            }
        }

        private void logStep(int epoch, long globalStep, MomentumContrast.StepResult r, double lr, double ips) {
            metrics.write(MetricsLog.record("step").put("epoch", epoch).put("step", globalStep).put("loss", r.loss())
                    .put("acc1", r.acc1()).put("acc5", r.acc5()).put("lr", lr).put("img_per_s", ips)
                    .put("time", System.currentTimeMillis() / 1000.0));
        }

        private Outcome diverged(ProgressReporter progress, int epoch, int step, double lr, float loss, long globalStep) {
            String msg = String.format(Locale.ROOT, "error: the loss became %s at epoch %d step %d (lr %.4g); training stopped"
                    + " and %s keeps the last good state. Lower optim.lr or check the data, then start again or resume.",
                    Float.isNaN(loss) ? "NaN" : "infinite", epoch + 1, step + 1, lr,
                    Files.exists(dir.lastCheckpoint()) ? dir.lastCheckpoint().toString() : "no checkpoint yet");
            progress.message(msg);
            LOG.debug(msg);
            return new Outcome(Status.DIVERGED, new TrainingProgress(epoch, step, globalStep, 0), loss);
        }

        private String stopMessage(TrainingProgress p) {
            return String.format(Locale.ROOT, "Stopped at epoch %d, step %d%s; saved %s. Resume with: ./moco4j pretrain --out %s --resume",
                    p.epoch() + 1, p.stepInEpoch(), request.stop().requested() ? " (" + request.stop().reason() + ")" : "",
                    dir.lastCheckpoint(), dir.root());
        }
    }

    /** Running means over an epoch. */
    private static final class EpochStats {
        private double loss;
        private double acc1;
        private double acc5;
        private double lastLr;
        private int steps;

        void add(MomentumContrast.StepResult r, double lr) {
            loss += r.loss();
            acc1 += r.acc1();
            acc5 += r.acc5();
            lastLr = lr;
            steps++;
        }

        int steps() {
            return steps;
        }

        double meanLoss() {
            return steps == 0 ? Double.NaN : loss / steps;
        }

        double meanAcc1() {
            return steps == 0 ? Double.NaN : acc1 / steps;
        }

        double meanAcc5() {
            return steps == 0 ? Double.NaN : acc5 / steps;
        }

        double lastLr() {
            return lastLr;
        }
    }

}
