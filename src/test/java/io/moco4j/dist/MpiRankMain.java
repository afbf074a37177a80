package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * The program each rank runs in the forked {@code mpirun -np 2} tests (MPI starts once per JVM, so the tests
 * cannot run collectives in the Surefire JVM). {@code args[0]} names the scenario; every rank prints
 * {@code ok <check> rank <r>} per passed check and exits 0, or throws (non-zero exit).
 */
public final class MpiRankMain {
    private MpiRankMain() {}

    public static void main(String[] args) throws Exception {
        String scenario = args[0];
        long maxCount = args.length > 1 ? Long.parseLong(args[1]) : Integer.MAX_VALUE;
        OpenMpi mpi = OpenMpi.start(maxCount);
        try {
            switch (scenario) {
                case "collectives" -> collectives(mpi);
                default -> throw new IllegalArgumentException("unknown scenario " + scenario);
            }
        } catch (Throwable t) {
            t.printStackTrace();
            mpi.abort(3, t.toString());
        }
        mpi.close();
    }

    static void ok(Collectives c, String check) {
        System.out.println("ok " + check + " rank " + c.rank());
        System.out.flush();
    }

    static void expect(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    /** Results written out by hand for two ranks: rank r contributes values built from r. */
    static void collectives(OpenMpi c) {
        expect(c.size() == 2, "size " + c.size());
        expect(c.localSize() == 2 && c.localRank() == c.rank(), "local " + c.localRank() + "/" + c.localSize());
        int r = c.rank();

        float[] v = {1 + r, 10 * (1 + r), -r, 0.5f};
        c.allReduceSum(v);
        expect(Arrays.equals(v, new float[] {3, 30, -1, 1}), "sum " + Arrays.toString(v));
        ok(c, "allreduce-sum-floats");

        float[] m = {2 + 2 * r, 7};
        c.allReduceMean(m);
        expect(Arrays.equals(m, new float[] {3, 7}), "mean " + Arrays.toString(m));
        ok(c, "allreduce-mean-floats");

        float[] g = c.allGather(new float[] {r, 100 + r, 200 + r});
        expect(Arrays.equals(g, new float[] {0, 100, 200, 1, 101, 201}), "gather " + Arrays.toString(g));
        ok(c, "allgather-floats");

        long[] gl = c.allGather(new long[] {(1L << 40) + r});
        expect(Arrays.equals(gl, new long[] {1L << 40, (1L << 40) + 1}), "gather longs " + Arrays.toString(gl));
        ok(c, "allgather-longs");

        long[] perm = r == 0 ? new long[] {3, 1, 0, 2} : new long[] {9, 9, 9, 9};
        c.broadcast(perm, 0);
        expect(Arrays.equals(perm, new long[] {3, 1, 0, 2}), "bcast " + Arrays.toString(perm));
        float[] fromOne = r == 1 ? new float[] {-4.5f} : new float[] {0};
        c.broadcast(fromOne, 1);
        expect(fromOne[0] == -4.5f, "bcast root 1 " + fromOne[0]);
        ok(c, "broadcast");

        try (NDManager mgr = NDManager.newBaseManager()) {
            // contiguous CPU array: reduced in its own memory, the same NDArray sees the sum
            NDArray a = mgr.arange(6f).reshape(2, 3).add(r * 10f);
            c.allReduceSum(a);
            expect(Arrays.equals(a.toFloatArray(), new float[] {10, 12, 14, 16, 18, 20}), "nd sum "
                    + Arrays.toString(a.toFloatArray()));
            ok(c, "allreduce-ndarray-contiguous");

            // a transposed view is not contiguous: the host-copy path must still update the caller's array
            NDArray base = mgr.arange(6f).reshape(2, 3).add(r);
            NDArray t = base.transpose();
            c.allReduceMean(t);
            expect(Arrays.equals(t.toFloatArray(), new float[] {0.5f, 3.5f, 1.5f, 4.5f, 2.5f, 5.5f}), "nd mean t "
                    + Arrays.toString(t.toFloatArray()));
            ok(c, "allreduce-ndarray-strided");

            NDArray keys = mgr.create(new float[] {r, r, r + 0.5f, r + 0.5f}, new Shape(2, 2));
            NDArray all = c.allGather(keys);
            expect(all.getShape().equals(new Shape(4, 2)), "gather shape " + all.getShape());
            expect(Arrays.equals(all.toFloatArray(), new float[] {0, 0, 0.5f, 0.5f, 1, 1, 1.5f, 1.5f}),
                    "nd gather " + Arrays.toString(all.toFloatArray()));
            ok(c, "allgather-ndarray");

            NDArray ids = r == 0 ? mgr.create(new long[] {5, 6, 7}) : mgr.zeros(new Shape(3), DataType.INT64);
            c.broadcast(ids, 0);
            expect(Arrays.equals(ids.toLongArray(), new long[] {5, 6, 7}), "nd bcast " + Arrays.toString(ids.toLongArray()));
            ok(c, "broadcast-ndarray");

            // more elements than one MPI call may take (the test lowers maxCount): split calls, same result
            NDArray big = mgr.arange(1000f).add(r * 1000f);
            c.allReduceSum(big);
            float[] bs = big.toFloatArray();
            for (int i = 0; i < bs.length; i++) {
                expect(bs[i] == 2 * i + 1000, "split sum at " + i + ": " + bs[i]);
            }
            NDArray bigGather = c.allGather(mgr.arange(50f).add(r * 50f));
            expect(Arrays.equals(bigGather.toFloatArray(), mgr.arange(100f).toFloatArray()), "split gather");
            NDArray bigB = r == 0 ? mgr.arange(77f) : mgr.zeros(new Shape(77));
            c.broadcast(bigB, 0);
            expect(Arrays.equals(bigB.toFloatArray(), mgr.arange(77f).toFloatArray()), "split bcast");
            ok(c, "split-calls");
        }

        Thread other = new Thread(() -> {
            try {
                c.barrier();
                System.out.println("barrier from another thread was accepted");
            } catch (IllegalStateException e) {
                ok(c, "other-thread-refused");
            }
        });
        other.start();
        try {
            other.join();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        c.barrier();
        ok(c, "barrier");
    }
}
