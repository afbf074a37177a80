package io.moco4j.bench;

import io.moco4j.cli.Main;
import io.moco4j.io.HostileCheckpoints;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

/**
 * N mutations each of a torch .pth and a MoCo4J .ckpt through the CLI ({@code import} and {@code export}):
 * each must end with exit 0 (harmless mutation) or exit 2 and one {@code error:} line, within 5 s, without
 * writing anything outside its output folder. {@code HostileCheckpointBench PTH CKPT N WORKDIR [SEED]}.
 */
public final class HostileCheckpointBench {
    public static void main(String[] args) throws Exception {
        Path pth = Path.of(args[0]);
        Path ckpt = Path.of(args[1]);
        int n = Integer.parseInt(args[2]);
        Path work = Path.of(args[3]).toAbsolutePath();
        long seed = args.length > 4 ? Long.parseLong(args[4]) : 5;
        Files.createDirectories(work);
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "hostile-case");
            t.setDaemon(true);
            return t;
        });
        // Warm-up (engine and class loading) outside the timed cases: the valid files through the same commands.
        Main.run(new PrintWriter(new StringWriter(), true), "import", "--from", pth.toString(), "--out", work.resolve("warm/run").toString());
        Main.run(new PrintWriter(new StringWriter(), true), "export", "--checkpoint", ckpt.toString(), "--format", "torchvision",
                "--out", work.resolve("warm/enc.pth").toString());
        for (Path valid : new Path[] {pth, ckpt}) {
            boolean torch = valid == pth;
            byte[] bytes = Files.readAllBytes(valid);
            SplittableRandom r = new SplittableRandom(seed);
            Map<String, int[]> byKind = new LinkedHashMap<>(); // kind -> accepted, refused, internal, timeout, oom, escaped
            long slowest = 0;
            for (int i = 0; i < n; i++) {
                String kind = HostileCheckpoints.KINDS[i % HostileCheckpoints.KINDS.length];
                int[] c = byKind.computeIfAbsent(kind, k -> new int[6]);
                Path caseDir = work.resolve((torch ? "pth" : "ckpt") + i);
                Path outDir = caseDir.resolve("out");
                Files.createDirectories(outDir);
                Path file = caseDir.resolve(torch ? "in.pth" : "in.ckpt");
                Files.write(file, HostileCheckpoints.mutate(bytes, kind, r));
                StringWriter err = new StringWriter();
                String[] cli = torch
                        ? new String[] {"import", "--from", file.toString(), "--out", outDir.resolve("run").toString()}
                        : new String[] {"export", "--checkpoint", file.toString(), "--format", "torchvision", "--out",
                                outDir.resolve("enc.pth").toString()};
                long t0 = System.nanoTime();
                Future<Integer> f = pool.submit(() -> Main.run(new PrintWriter(err, true), cli));
                int code;
                try {
                    code = f.get(5, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    c[3]++;
                    System.out.println("TIMEOUT " + kind + " case " + i + " (" + file + ")");
                    f.cancel(true);
                    pool.shutdownNow();
                    pool = Executors.newSingleThreadExecutor();
                    continue;
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof OutOfMemoryError) {
                        c[4]++;
                    } else {
                        c[2]++;
                    }
                    System.out.println("THROWN " + kind + " case " + i + ": " + e.getCause());
                    continue;
                }
                slowest = Math.max(slowest, System.nanoTime() - t0);
                String text = err.toString().trim();
                if (code == 0) {
                    c[0]++;
                } else if (code == 2 && text.startsWith("error: ") && text.lines().count() == 1) {
                    c[1]++;
                } else {
                    c[2]++;
                    System.out.println("BAD " + kind + " case " + i + " exit " + code + ": " + text.replace('\n', '|'));
                }
                if (escaped(caseDir, outDir, file)) {
                    c[5]++;
                    System.out.println("ESCAPED " + kind + " case " + i);
                }
                if (i % 50 != 0) { // keep a few cases for inspection
                    deleteTree(caseDir);
                }
            }
            System.out.printf(Locale.ROOT, "%s (%s): %d mutations, slowest %.2f s%n", torch ? "torch .pth" : "MoCo4J .ckpt",
                    valid.getFileName(), n, slowest / 1e9);
            byKind.forEach((k, c) -> System.out.printf(Locale.ROOT,
                    "  %-13s accepted %4d  refused-one-line %4d  other %d  timeout %d  oom %d  wrote-outside %d%n",
                    k, c[0], c[1], c[2], c[3], c[4], c[5]));
        }
        try (Stream<Path> s = Files.list(work.getParent())) {
            System.out.println("files named escaped* beside the work folder: "
                    + s.filter(p -> p.getFileName().toString().startsWith("escaped")).count()
                    + ", /tmp/moco4j_escaped*: " + Files.list(Path.of("/tmp")).filter(p -> p.getFileName().toString().startsWith("moco4j_escaped")).count());
        }
        System.exit(0);
    }

    /** Anything in the case folder besides the input and the output folder was written outside the output path. */
    private static boolean escaped(Path caseDir, Path outDir, Path input) throws Exception {
        try (Stream<Path> s = Files.list(caseDir)) {
            return s.anyMatch(p -> !p.equals(outDir) && !p.equals(input));
        }
    }

    private static void deleteTree(Path p) throws Exception {
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
        }
    }
}
