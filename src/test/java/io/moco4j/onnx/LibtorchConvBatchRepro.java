package io.moco4j.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;

/**
 * Reproducer (not a test) of a libtorch 2.7.1 CPU bug found while checking the ONNX export: a 3x3 convolution with
 * 26 or 51 input channels (ResNet widths x0.1) gives, at batch 7, rows that differ from the same images convolved
 * at batch 1 by ~20 (outputs of magnitude ~15), while 6, 13 and 8-64 in powers of two agree to 1e-5. Debian's torch
 * 1.13 agrees to 4e-5 on the same shapes, and ONNX Runtime's batch-7 output equals libtorch's batch-1 output, so the
 * batched libtorch result is the wrong one. Seen on the 2-core AMD EPYC (avx512) with one intra-op thread.
 *
 * <pre>
 * java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads=1 -cp "target/classes:target/test-classes:$(cat /tmp/cp.txt)" \
 *   io.moco4j.onnx.LibtorchConvBatchRepro
 * </pre>
 */
public final class LibtorchConvBatchRepro {
    public static void main(String[] args) {
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            for (int c : args.length > 0 ? java.util.Arrays.stream(args).mapToInt(Integer::parseInt).toArray() : new int[] {13, 16, 24, 26, 32, 48, 51, 64, 96, 128}) {
                NDArray x = m.randomNormal(new Shape(7, c, 10, 10));
                NDArray w = m.randomNormal(new Shape(c, c, 3, 3));
                NDArray y7 = conv(x, w);
                double d = 0;
                for (int i = 0; i < 7; i++) {
                    d = Math.max(d, y7.get(i).expandDims(0).sub(conv(x.get(i).expandDims(0), w)).abs().max().getFloat());
                }
                System.out.printf("3x3 conv %d -> %d channels, 10x10: max |batch-7 row - batch-1| = %.3g%n", c, c, d);
            }
        }
    }

    private static NDArray conv(NDArray x, NDArray w) {
        return Conv2d.conv2d(x, w, null, new Shape(1, 1), new Shape(1, 1), new Shape(1, 1), 1).singletonOrThrow();
    }
}
