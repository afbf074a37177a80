package io.moco4j.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.moco4j.model.VisionTransformer;
import io.moco4j.model.VitSpec;
import io.moco4j.util.Gradients;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Times the ViT backbone's forward + backward (loss = sum of the cls features; zeroed gradients each step) on random
 * input, the same work as bench/reference_vit_step.py does with the official vits.py model. Not a unit test: run
 * it through bench/run-vit-benchmark.sh.
 *
 * <p>Arguments: {@code size batch steps warmup} with size a {@link VitSpec#named} name. One extra step runs under
 * libtorch's profiler and reports the share of its wall time inside the attention core: the union of the
 * {@code aten::bmm} (Q K^T and A V, forward and backward: the linears use mm/addmm) and softmax forward/backward
 * intervals. The qkv and output projections are linears and not counted; nor are the permute copies around them.
 */
public final class VitBenchmark {
    private static final Set<String> ATTENTION_OPS = Set.of("aten::bmm", "aten::_softmax",
            "aten::_softmax_backward_data");

    public static void main(String[] args) throws Exception {
        VitSpec spec = VitSpec.named(args[0], false);
        int batch = Integer.parseInt(args[1]);
        int steps = Integer.parseInt(args[2]);
        int warmup = Integer.parseInt(args[3]);
        try (NDManager root = NDManager.newBaseManager(); VisionTransformer vit = VisionTransformer.create(spec, root, 0)) {
            vit.trainableParameters().values().forEach(p -> p.setRequiresGradient(true));
            NDArray x = root.randomNormal(new Shape(batch, 3, spec.imageSize(), spec.imageSize()));
            List<Double> times = new ArrayList<>();
            for (int i = 0; i < warmup + steps; i++) {
                long t0 = System.nanoTime();
                step(vit, x);
                if (i >= warmup) {
                    times.add((System.nanoTime() - t0) / 1e9);
                }
            }
            double mean = times.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            double[] shares = profiledShares(vit, x);
            System.out.printf(Locale.ROOT, "{\"impl\": \"moco4j\", \"size\": \"%s\", \"batch\": %d, \"img_per_s\": %.3f, "
                            + "\"step_seconds\": %s, \"attention_share\": %.4f, \"outside_ops_share\": %.4f}%n",
                    args[0], batch, batch / mean, times, shares[0], shares[1]);
        }
    }

    private static void step(VisionTransformer vit, NDArray x) {
        try (NDManager step = x.getManager().newSubManager()) {
            NDArray in = x.duplicate();
            in.attach(step);
            Gradients.zero(vit.trainableParameters().values());
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                gc.backward(vit.forward(in, true).sum());
            }
        }
    }

    /** One profiled step: {attention-core share, share outside any libtorch op} of its wall time. */
    private static double[] profiledShares(VisionTransformer vit, NDArray x) throws Exception {
        Path trace = Files.createTempFile("moco4j-vit-profile", ".json");
        JniUtils.startProfile(false, false, false);
        long t0 = System.nanoTime();
        step(vit, x);
        double wallUs = (System.nanoTime() - t0) / 1e3;
        JniUtils.stopProfile(trace.toString());
        JsonNode root = new ObjectMapper().readTree(trace.toFile());
        JsonNode events = root.isArray() ? root : root.path("traceEvents");
        List<double[]> all = new ArrayList<>();
        List<double[]> attention = new ArrayList<>();
        for (JsonNode e : events) {
            if ("X".equals(e.path("ph").asText()) && e.has("dur")) {
                double[] span = {e.path("ts").asDouble(), e.path("ts").asDouble() + e.path("dur").asDouble()};
                all.add(span);
                if (ATTENTION_OPS.contains(e.path("name").asText())) {
                    attention.add(span);
                }
            }
        }
        Files.deleteIfExists(trace);
        return new double[] {StepBenchmark.union(attention) / wallUs, Math.max(0, 1 - StepBenchmark.union(all) / wallUs)};
    }
}
