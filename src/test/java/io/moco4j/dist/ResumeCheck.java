package io.moco4j.dist;

import ai.djl.Device;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.Npy;
import io.moco4j.io.TensorArchive;
import io.moco4j.train.Pretraining;
import io.moco4j.train.StopSignal;
import io.moco4j.train.TrainingData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Whole pretraining runs on 2 ranks: one run straight through, one stopped after 5 steps and resumed; the two
 * final checkpoints must hold the same tensors, and only rank 0 writes the run directory.
 */
final class ResumeCheck {
    private ResumeCheck() {}

    static MocoConfig config() {
        // global batch 8 = 2 ranks x 4, with 2 BN splits inside each rank; 48 images: 6 steps an epoch
        return ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=16").set("train.batch_size=8").set("moco.bn_splits=2").set("train.epochs=2")
                .set("data.generated_train=48").set("data.generated_val=16").set("train.log_every=1")
                .set("train.workers=1").set("train.knn_every=1").set("train.knn_k=5").build();
    }

    static Pretraining.Outcome run(Collectives c, Path dir, boolean resume, long maxSteps) throws Exception {
        return run(config(), c, dir, resume, maxSteps);
    }

    static Pretraining.Outcome run(MocoConfig cfg, Collectives c, Path dir, boolean resume, long maxSteps) throws Exception {
        return Pretraining.run(new Pretraining.Request(dir, cfg, Device.cpu(), resume, TrainingData.open(cfg),
                StopSignal.manual(), new PrintStream(new ByteArrayOutputStream()), maxSteps), c);
    }

    /**
     * The cpu-small preset with its own bn_splits (8 groups over a global batch of 16: 4 per rank on 2 ranks),
     * narrowed for speed; 64 images, 4 steps an epoch, 2 epochs.
     */
    static MocoConfig presetSplits() {
        return ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=32").set("train.batch_size=16").set("train.epochs=2")
                .set("data.generated_train=64").set("data.generated_val=16").set("train.log_every=1")
                .set("train.workers=1").set("train.knn_every=0").build();
    }

    /**
     * A run trained 3 steps on 2 ranks, resumed on 1 process up to step 6, then resumed on 2 ranks to the end (8
     * steps), against the same run straight through on 2 ranks: steps 4 to 6 on one process must continue the
     * 2-rank run (same global batches, BatchNorm groups, Shuffle BN and queue order).
     *
     * <p>What is compared, and why not the final weights at 1e-5 (docs/ISSUES-FOUND.md): this toy run (x0.125 width,
     * BatchNorm groups of 2 images) amplifies float summation order by about 10^4 per step once the stem and layer1
     * get their true gradients (before {@code model.ChannelPaddedConv} oneDNN's backward-data of the 8-channel layer1
     * convolutions returned garbage, and the old 6.2e-7 agreement was an artefact of that). Floors measured on
     * 2026-12-06 over the same 8 steps, float order alone: one process against 2 ranks straight through parts the step
     * losses by up to {@link #LOSS_FLOOR} (relative) and the checkpoints by up to {@link #CHECKPOINT_FLOOR} (max abs,
     * the SGD momentum of the stem); one process with 1 against 2 libtorch threads by 4e-3 and 0.145. So: every step
     * loss within 4x the loss floor (steps 1-3 ran on the same 2 ranks and must be bit-identical), every counter of the
     * last checkpoint (queue pointer, steps, BatchNorm batches) exact, and its float tensors within the checkpoint
     * floor. Measured for the resumed run: losses 1e-5, checkpoint 0.018 (printed below as "gap").
     */
    static void acrossRankCounts(OpenMpi c, Path base) throws Exception {
        MocoConfig cfg = presetSplits();
        Path two = base.resolve("straight-2");
        Path mixed = base.resolve("2-1-2");
        expect(run(cfg, c, two, false, Long.MAX_VALUE), Pretraining.Status.COMPLETED, 8);
        expect(run(cfg, c, mixed, false, 3), Pretraining.Status.STOPPED, 3);
        if (c.isRoot()) {
            expect(run(cfg, SingleProcess.INSTANCE, mixed, true, 6), Pretraining.Status.STOPPED, 6);
        }
        c.barrier();
        expect(run(cfg, c, mixed, true, Long.MAX_VALUE), Pretraining.Status.COMPLETED, 8);
        if (c.isRoot()) {
            double[] want = stepLosses(two);
            double[] got = stepLosses(mixed);
            MpiRankMain.expect(want.length == 8 && got.length == 8, "8 logged steps each: " + want.length + ", " + got.length);
            double worst = 0;
            for (int s = 0; s < 8; s++) {
                double rel = Math.abs(got[s] - want[s]) / Math.abs(want[s]);
                worst = Math.max(worst, rel);
                double bound = s < 3 ? 0 : 4 * LOSS_FLOOR;
                MpiRankMain.expect(rel <= bound, "step " + (s + 1) + " loss " + got[s] + " after the 2 -> 1 -> 2 resumes, "
                        + want[s] + " straight (relative " + rel + ", bound " + bound + ")");
            }
            Map<String, Npy.NpyArray> b = TensorArchive.read(two.resolve("checkpoints/last.ckpt")).tensors();
            Map<String, Npy.NpyArray> m = TensorArchive.read(mixed.resolve("checkpoints/last.ckpt")).tensors();
            double gap = maxGap(b, m);
            System.out.println("gap: the run resumed 2 -> 1 -> 2 ranks differs from the straight 2-rank run by " + worst
                    + " in its step losses (relative) and " + gap + " in its last checkpoint");
            MpiRankMain.expect(gap <= CHECKPOINT_FLOOR, "the run resumed 2 -> 1 -> 2 ranks differs from the straight run by "
                    + gap);
        }
        MpiRankMain.ok(c, "resume-2-1-2-ranks");
    }

    /** Largest relative step-loss difference between the straight 1-process and 2-rank runs (measured, see above). */
    static final double LOSS_FLOOR = 2.5e-4;
    /** Largest checkpoint difference between the straight 1-process and 2-rank runs (measured, see above). */
    static final double CHECKPOINT_FLOOR = 0.142;

    /** The logged loss of every step of a run, in step order. */
    static double[] stepLosses(Path runDir) throws java.io.IOException {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        java.util.List<Double> out = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(runDir.resolve("metrics.jsonl"))) {
            com.fasterxml.jackson.databind.JsonNode r = json.readTree(line);
            if ("step".equals(r.path("type").asText())) {
                MpiRankMain.expect(r.path("step").asInt() == out.size() + 1, "step " + r.path("step") + " logged out of order");
                out.add(r.path("loss").asDouble());
            }
        }
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static void expect(Pretraining.Outcome o, Pretraining.Status status, long steps) {
        MpiRankMain.expect(o.status() == status && o.progress().globalStep() == steps, "expected " + status + " after "
                + steps + " steps: " + o);
    }

    /** Largest absolute difference over the float tensors of two checkpoints (names must match). */
    static double maxGap(Map<String, Npy.NpyArray> x, Map<String, Npy.NpyArray> y) {
        MpiRankMain.expect(x.keySet().equals(y.keySet()), "checkpoint keys differ");
        double max = 0;
        for (String k : x.keySet()) {
            if (x.get(k).dtype().startsWith("<f")) {
                float[] fx = x.get(k).toFloatArray();
                float[] fy = y.get(k).toFloatArray();
                double m = 0;
                for (int i = 0; i < fx.length; i++) {
                    m = Math.max(m, Math.abs(fx[i] - fy[i]));
                }
                max = Math.max(max, m);
            } else { // counters (queue pointer, steps, BatchNorm batches tracked) agree exactly
                MpiRankMain.expect(x.get(k).data().equals(y.get(k).data()), k + " differs");
            }
        }
        return max;
    }

    static void run(OpenMpi c, Path base) throws Exception {
        Path straight = base.resolve("straight");
        Path resumed = base.resolve("resumed");
        Pretraining.Outcome a = run(c, straight, false, Long.MAX_VALUE);
        MpiRankMain.expect(a.status() == Pretraining.Status.COMPLETED && a.progress().globalStep() == 12,
                "straight run " + a);
        Pretraining.Outcome stopped = run(c, resumed, false, 5);
        MpiRankMain.expect(stopped.status() == Pretraining.Status.STOPPED && stopped.progress().globalStep() == 5,
                "stopped run " + stopped);
        Pretraining.Outcome b = run(c, resumed, true, Long.MAX_VALUE);
        MpiRankMain.expect(b.status() == Pretraining.Status.COMPLETED && b.progress().globalStep() == 12,
                "resumed run " + b);
        MpiRankMain.expect(a.lastLoss() == b.lastLoss(), "last loss " + a.lastLoss() + " vs resumed " + b.lastLoss());
        c.barrier();
        if (c.isRoot()) {
            Map<String, Npy.NpyArray> x = TensorArchive.read(straight.resolve("checkpoints/last.ckpt")).tensors();
            Map<String, Npy.NpyArray> y = TensorArchive.read(resumed.resolve("checkpoints/last.ckpt")).tensors();
            MpiRankMain.expect(x.keySet().equals(y.keySet()), "checkpoint keys differ");
            for (String k : x.keySet()) {
                MpiRankMain.expect(x.get(k).data().equals(y.get(k).data()), "tensor " + k + " differs after the resume");
            }
            long lines = Files.readAllLines(straight.resolve("metrics.jsonl")).stream()
                    .filter(l -> l.contains("\"type\":\"step\"")).count();
            MpiRankMain.expect(lines == 12, "rank 0 alone logs each of the 12 steps once, found " + lines);
        }
        MpiRankMain.ok(c, "resume-continues-exactly");
    }
}
