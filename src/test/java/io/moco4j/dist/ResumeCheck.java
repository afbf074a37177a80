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
        MocoConfig cfg = config();
        return Pretraining.run(new Pretraining.Request(dir, cfg, Device.cpu(), resume, TrainingData.open(cfg),
                StopSignal.manual(), new PrintStream(new ByteArrayOutputStream()), maxSteps), c);
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
