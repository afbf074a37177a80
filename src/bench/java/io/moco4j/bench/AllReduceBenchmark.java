package io.moco4j.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.moco4j.dist.GradientAverager;
import io.moco4j.dist.OpenMpi;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * All-reduce speed for gradient-sized buffers on the ranks of an mpirun job, against a baseline in the same run
 * (one in-memory copy of the same buffer with libtorch). Not a unit test:
 * {@code mpirun --allow-run-as-root --bind-to none -np 2 java -cp ... io.moco4j.bench.AllReduceBenchmark 7}.
 *
 * <p>Two paths per model: one flat float buffer of the model's parameter count reduced in place, and the
 * {@link GradientAverager} over the real tensor shapes of torchvision's ResNet (25 MB buckets, packing and
 * unpacking included).
 */
public final class AllReduceBenchmark {
    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        OpenMpi mpi = OpenMpi.start();
        try (NDManager m = NDManager.newBaseManager()) {
            for (int depth : new int[] {18, 50}) {
                try (ResNet net = ResNet.create(ResNetSpec.torchvision(depth, HeadSpec.linear(1000)), m, 0)) {
                    Map<String, NDArray> grads = new LinkedHashMap<>(net.parameters());
                    long n = grads.values().stream().mapToLong(NDArray::size).sum();
                    NDArray flat = m.ones(new Shape(n));
                    double[] copy = new double[reps];
                    double[] reduce = new double[reps];
                    double[] averager = new double[reps];
                    GradientAverager avg = new GradientAverager(mpi);
                    for (int i = 0; i < reps; i++) {
                        mpi.barrier();
                        long t0 = System.nanoTime();
                        NDArray dup = flat.duplicate();
                        dup.close();
                        copy[i] = (System.nanoTime() - t0) / 1e9;
                        mpi.barrier();
                        t0 = System.nanoTime();
                        mpi.allReduceSum(flat);
                        reduce[i] = (System.nanoTime() - t0) / 1e9;
                        mpi.barrier();
                        t0 = System.nanoTime();
                        avg.average(grads);
                        averager[i] = (System.nanoTime() - t0) / 1e9;
                    }
                    double c = median(copy);
                    double r = median(reduce);
                    double a = median(averager);
                    double bytes = 4.0 * n;
                    int w = mpi.size();
                    if (mpi.isRoot()) {
                        System.out.printf(Locale.ROOT, "ResNet-%d: %,d floats (%.1f MB) on %d ranks, median of %d: copy %.1f ms; "
                                        + "all-reduce in place %.1f ms (%.2f GB/s algorithm, %.2f GB/s bus, %.1fx the copy); "
                                        + "GradientAverager %.1f ms (%.1fx the copy)%n",
                                depth, n, bytes / 1e6, w, reps, c * 1e3, r * 1e3, bytes / r / 1e9,
                                bytes / r / 1e9 * 2 * (w - 1) / w, r / c, a * 1e3, a / c);
                    }
                    flat.close();
                }
            }
        }
        mpi.close();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
