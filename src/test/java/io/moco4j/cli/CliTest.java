package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.io.Npy;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    private static final String[] TINY = {"--set", "model.width=0.125", "--set", "model.dim=8", "--set", "moco.queue_size=16",
        "--batch-size", "8", "--set", "moco.bn_splits=2", "--epochs", "1", "--set", "data.generated_train=32",
        "--set", "data.generated_val=16", "--set", "train.knn_every=1", "--set", "train.knn_k=5", "--workers", "1"};

    record Result(int code, String err) {}

    static Result run(String... args) {
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(err, true), args);
        return new Result(code, err.toString());
    }

    static String[] concat(String[] a, String... b) {
        List<String> all = new ArrayList<>(List.of(a));
        all.addAll(List.of(b));
        return all.toArray(String[]::new);
    }

    @Test
    void pretrainThenEvaluateThroughTheCommandLine(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        Result r = run(concat(new String[] {"pretrain", "--out", run.toString(), "--device", "cpu"}, TINY));
        assertEquals(0, r.code(), r.err());
        Path ckpt = run.resolve("checkpoints/last.ckpt");
        assertTrue(Files.exists(ckpt));
        assertTrue(Files.readString(run.resolve("config.yaml")).contains("queue_size: 16"));

        Path knnJson = tmp.resolve("knn.json");
        r = run("knn", "--checkpoint", ckpt.toString(), "--train", "builtin:32:40", "--val", "builtin:32:20", "--k", "5",
                "--out", knnJson.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(knnJson).contains("top1"));

        Path npy = tmp.resolve("emb/vectors.npy");
        r = run("embed", "--checkpoint", ckpt.toString(), "--images", "builtin:32:12", "--out", npy.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        Npy.NpyArray a = Npy.read(npy);
        assertEquals(12, a.shape()[0]);
        assertEquals(64, a.shape()[1], "pooled features of a ResNet-18 at width 1/8: 512 / 8");
        assertEquals(12, Files.readAllLines(tmp.resolve("emb/vectors.txt")).size());

        r = run("report", run.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(run.resolve("charts/loss.png")) > 1000);
    }

    @Test
    void pretrainAcceptsTheBuiltinSpecLikeTheOtherCommands(@TempDir Path tmp) throws Exception {
        // knn/embed take builtin:SIZE:COUNT; pretrain once turned it into a missing path under the working directory.
        Path run = tmp.resolve("run");
        Result r = run(concat(new String[] {"pretrain", "--data", "builtin:32:24", "--val", "builtin:32:80",
            "--out", run.toString(), "--device", "cpu"}, TINY));
        assertEquals(0, r.code(), r.err());
        String config = Files.readString(run.resolve("config.yaml"));
        assertTrue(config.contains("builtin:32:24"), config);
        assertTrue(config.contains("cifar_stem: true"),
                "builtin data picks the builtin preset (cpu-small with a shorter queue), not moco-v2: " + config);
        assertTrue(Files.readString(run.resolve("metrics.jsonl")).contains("knn"));
    }

    @Test
    void badInputIsOneLineAndExitCodeTwo(@TempDir Path tmp) {
        String[][] cases = {
            {"pretrain", "--data", tmp.resolve("missing").toString(), "--out", tmp.resolve("a").toString()},
            {"pretrain", "--out", tmp.resolve("b").toString(), "--set", "moco.queue_size=100"},
            {"pretrain", "--out", tmp.resolve("c").toString(), "--preset", "moco-v9"},
            {"pretrain", "--out", tmp.resolve("d").toString(), "--resume"},
            {"pretrain", "--out", tmp.resolve("e").toString(), "--device", "gpu:7"},
            {"knn", "--checkpoint", tmp.resolve("x.ckpt").toString(), "--train", "builtin", "--val", "builtin"},
            {"report", tmp.resolve("norun").toString()},
        };
        String[] expected = {"does not exist", "not a multiple of train.batch_size", "unknown preset", "nothing to resume",
            "gpu:7", "x.ckpt does not exist", "norun"};
        for (int i = 0; i < cases.length; i++) {
            Result r = run(cases[i]);
            assertEquals(2, r.code(), String.join(" ", cases[i]) + " -> " + r.err());
            String line = r.err().strip();
            assertTrue(line.startsWith("error: ") && line.contains(expected[i]), line);
            assertEquals(1, line.lines().count(), "one line: " + line);
        }
    }
}
