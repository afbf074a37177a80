package io.moco4j.cli;

import io.moco4j.bench.StepBenchmark;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.util.Devices;
import io.moco4j.util.UserException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Times full training steps of a preset.",
                "Synthetic input (no data loading), on any device.",
                "Prints img/s (median step), the step time spread and peak host memory; --out writes the JSON."})
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--preset", paramLabel = "P", required = true, description = "Any pretrain preset, e.g. cpu-small-v3.")
    String preset;

    @Option(names = "--batch-size", paramLabel = "N") Integer batchSize;
    @Option(names = "--image-size", paramLabel = "PX") Integer imageSize;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "10", description = "Timed steps (default 10).")
    int steps;

    // 10: the JVM compiles the step's Java code during the first steps; a cpu-vit step still fell from 0.68 to
    // 0.42 s between the 3rd and the 7th step, so fewer warm-up steps under-rate us against a Python reference
    // (BENCHMARKS.md, issue 21)
    @Option(names = "--warmup", paramLabel = "N", defaultValue = "10", description = "Untimed steps first (default 10).")
    int warmup;

    @Option(names = "--profile", description = "One more step under libtorch's profiler: the share of time outside libtorch ops.")
    boolean profile;

    @Option(names = "--turns", hidden = true,
            description = "Before every step wait for a line on standard input, after it print 'done WALL CPU' "
                    + "(bench/paired_ab.py alternates two implementations' steps this way).")
    boolean turns;

    @Option(names = "--device", paramLabel = "D", defaultValue = "auto", description = "cpu, gpu, gpu:N or auto (default).")
    String device;

    @Mixin
    PrecisionOption precision;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override any setting, e.g. --set model.width=0.5.")
    Map<String, String> overrides = new LinkedHashMap<>();

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the result as JSON.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (steps < 1 || warmup < 0) {
            throw new UserException("--steps must be >= 1 and --warmup >= 0 (got " + steps + ", " + warmup + ")");
        }
        Map<String, String> all = new LinkedHashMap<>(overrides);
        if (batchSize != null) all.put("train.batch_size", batchSize.toString());
        if (imageSize != null) all.put("train.image_size", imageSize.toString());
        precision.given().ifPresent(p -> all.put("train.precision", p.label()));
        MocoConfig cfg = ConfigLoader.defaults().preset(preset).setAll(all).build();
        StepBenchmark.StepGate gate = turns ? new StdinTurns() : StepBenchmark.StepGate.OPEN;
        StepBenchmark.Result r = StepBenchmark.run(cfg, Devices.parse(device),
                new StepBenchmark.Plan(warmup, steps, profile, gate));
        String json = r.toJson().toString();
        System.out.printf(Locale.ROOT, "%s, batch %d at %d px on %s in %s: %.1f img/s (median step %.3f s)%n", preset,
                cfg.train().batchSize(), cfg.train().imageSize(), r.device(), r.precision(), r.imagesPerSecond(),
                r.medianSeconds());
        System.out.println(json);
        if (out != null) {
            Files.writeString(out, json + "\n");
        }
        return 0;
    }

    /** {@code --turns}: a line on standard input lets one step run; its seconds go to standard output. */
    private static final class StdinTurns implements StepBenchmark.StepGate {
        private final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

        @Override
        public void awaitTurn() throws IOException {
            if (in.readLine() == null) {
                throw new UserException("--turns: standard input closed before the last step (the driver stopped)");
            }
        }

        @Override
        public void stepDone(double wallSeconds, double cpuSeconds) {
            System.out.printf(Locale.ROOT, "done %.6f %.6f%n", wallSeconds, cpuSeconds);
            System.out.flush();
        }
    }
}
