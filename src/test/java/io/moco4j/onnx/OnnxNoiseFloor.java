package io.moco4j.onnx;

import ai.djl.ndarray.NDManager;
import io.moco4j.api.OnnxEncoder;
import io.moco4j.eval.FeatureLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Measures the float noise floor behind {@link OnnxParityTest#TOLERANCE} on the test's own networks, inputs and
 * weights: the same computation in other summation orders, (a) ONNX Runtime at 1 vs 2 intra-op threads, (b) our
 * libtorch forward of batch 7 against the same images one at a time, and, for comparison, (c) what the test checks,
 * ONNX Runtime against libtorch. Each is max |difference| / max(1, max |output|) over the 7 images.
 *
 * <pre>
 * ./mvnw -q -o test-compile && ./mvnw -q -o dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test
 * java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp "target/classes:target/test-classes:$(cat /tmp/cp.txt)" \
 *   io.moco4j.onnx.OnnxNoiseFloor
 * </pre>
 */
public final class OnnxNoiseFloor {
    public static void main(String[] args) throws Exception {
        OnnxParityTest.tmp = Files.createTempDirectory("onnx-noise");
        OnnxParityTest.open();
        try {
            for (OnnxParityTest.Case c : OnnxParityTest.cases().toList()) {
                for (FeatureLayer layer : List.of(FeatureLayer.BACKBONE, FeatureLayer.HEAD)) {
                    measure(c, layer);
                }
            }
        } finally {
            OnnxParityTest.close();
        }
    }

    private static void measure(OnnxParityTest.Case c, FeatureLayer layer) throws Exception {
        try (NDManager m = OnnxParityTest.manager.newSubManager();
             io.moco4j.model.Encoder net = OnnxParityTest.randomised(c.build().apply(m, 1L), 11)) {
            int n = 7;
            float[] images = OnnxParityTest.images(n, c.imageSize(), 5);
            float[][] batched = OnnxParityTest.forward(net, layer, images, n, c.imageSize());
            float[][] single = OnnxParityTest.forwardOneByOne(net, layer, images, n, c.imageSize());
            Path file = OnnxParityTest.export(net, layer, c.imageSize(), c.name() + "-" + layer.id() + ".onnx");
            float[][] ort1;
            float[][] ort2;
            try (OnnxEncoder one = OnnxEncoder.load(file, OnnxParityTest.options(layer), 1);
                 OnnxEncoder two = OnnxEncoder.load(file, OnnxParityTest.options(layer), 2)) {
                ort1 = one.forward(images, n);
                ort2 = two.forward(images, n);
            }
            double scale = Math.max(1, OnnxParityTest.maxAbs(single));
            System.out.printf("%-48s %-8s scale %7.3f  ORT 1 vs 2 threads %.2e  libtorch b7 vs b1 %.2e  ORT vs libtorch(b1) %.2e%n",
                    c.name(), layer.id(), scale, OnnxParityTest.maxAbsDiff(ort1, ort2) / scale,
                    OnnxParityTest.maxAbsDiff(batched, single) / scale, OnnxParityTest.maxAbsDiff(ort1, single) / scale);
        }
    }
}
