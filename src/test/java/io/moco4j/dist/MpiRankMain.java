package io.moco4j.dist;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import io.moco4j.loss.InfoNce;
import io.moco4j.method.CrossProcessShuffle;
import io.moco4j.method.KeyShuffler;
import io.moco4j.method.SingleDeviceShuffler;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.Networks;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.train.StateSync;
import io.moco4j.util.NoGrad;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The program each rank runs in the forked {@code mpirun -np 2} tests (MPI starts once per JVM, so the tests
 * cannot run collectives in the Surefire JVM). {@code args[0]} names the scenario; every rank prints
 * {@code ok <check> rank <r>} per passed check and exits 0, or throws (non-zero exit).
 */
public final class MpiRankMain {
    private MpiRankMain() {}

    public static void main(String[] args) throws Exception {
        String scenario = args[0];
        long maxCount = args.length > 1 && args[1].matches("\\d+") ? Long.parseLong(args[1]) : Integer.MAX_VALUE;
        OpenMpi mpi = OpenMpi.start(maxCount);
        try {
            switch (scenario) {
                case "collectives" -> collectives(mpi);
                case "correctness" -> {
                    collectives(mpi);
                    shuffle(mpi);
                    sync(mpi);
                }
                case "threads" -> threads(mpi);
                case "v2step" -> V2StepCheck.run(mpi, args.length > 1 ? io.moco4j.precision.Precision.parse(args[1])
                        : io.moco4j.precision.Precision.FP32);
                case "v3step" -> V3StepCheck.run(mpi, args[1], args.length > 2 ? io.moco4j.precision.Precision.parse(args[2])
                        : io.moco4j.precision.Precision.FP32);
                case "resume" -> ResumeCheck.run(mpi, java.nio.file.Path.of(args[1]));
                case "resume-ranks" -> ResumeCheck.acrossRankCounts(mpi, java.nio.file.Path.of(args[1]));
                case "die" -> die(mpi);
                case "hang" -> hang(mpi);
                case "exception" -> exception(mpi);
                case "ignore-signals" -> ignoreSignals(mpi);
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

    static final ResNetSpec TINY = new ResNetSpec(18, true, 1.0 / 16, false, HeadSpec.linear(8), 1);
    static final int B = 4;

    /** The global batch both ranks can build: 2B images of 3x8x8 from a fixed seed. */
    static NDArray globalImages(NDManager m) {
        return m.arange(2 * B * 3 * 64f).reshape(2 * B, 3, 8, 8).mul(0.37f).sin().mul(2);
    }

    static float maxDiff(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    /**
     * CrossProcessShuffle against the single-process computation: the same permutation of the 2B images, each
     * block of B encoded with its own BatchNorm (the ranks' BN groups), keys put back in the original order.
     */
    static void shuffle(OpenMpi c) {
        int r = c.rank();
        long seed = 17;
        long step = 5;
        try (NDManager root = NDManager.newBaseManager();
             ResNet encoder = ResNet.create(TINY, root, 3);
             ResNet reference = ResNet.create(TINY, root, 3);
             NDManager m = root.newSubManager();
             NoGrad ignored = NoGrad.enter()) {
            NDArray all = globalImages(m);
            NDArray mine = all.get(r * B + ":" + (r + 1) * B);

            KeyShuffler.Shuffled sh = new CrossProcessShuffle(c, seed).shuffle(mine, step);
            NDArray keys = sh.restore(InfoNce.normalize(encoder.forward(sh.batch(), true)));

            KeyShuffler.Shuffled single = new SingleDeviceShuffler(seed).shuffle(all, step);
            NDArray shuffled = single.batch();
            NDArray encoded = InfoNce.normalize(reference.forward(shuffled.get("0:" + B), true))
                    .concat(InfoNce.normalize(reference.forward(shuffled.get(B + ":" + 2 * B), true)));
            NDArray expectedAll = single.restore(encoded);
            NDArray expected = expectedAll.get(r * B + ":" + (r + 1) * B);
            float diff = maxDiff(keys, expected);
            expect(diff < 1e-5, "cross-process keys differ from the single-process computation by " + diff);
            // and the shuffle matters: encoding the rank's own images with its own BN gives other keys
            NDArray unshuffled = InfoNce.normalize(reference.forward(mine, true));
            float gap = maxDiff(unshuffled, expected);
            expect(gap > 1e-3, "keys without shuffling are as close as " + gap);
            ok(c, "cross-process-shuffle");

            NDArray gathered = new KeyGather(c).all(keys);
            float gdiff = maxDiff(gathered, expectedAll);
            expect(gdiff < 1e-5, "gathered keys differ by " + gdiff);
            expect(new KeyGather(c).labelOffset(B) == (long) r * B, "label offset");
            ok(c, "key-gather");
        }
    }

    /** State broadcast and checksum check; gradient averaging against the gradient of the whole batch. */
    static void sync(OpenMpi c) {
        int r = c.rank();
        try (NDManager root = NDManager.newBaseManager();
             ResNet net = ResNet.create(TINY, root, 100 + r);
             ResNet rank0 = ResNet.create(TINY, root, 100)) {
            boolean differed = false;
            try {
                StateSync.verifyIdentical(c, net.stateDict(), "before the broadcast");
            } catch (IllegalStateException e) {
                differed = e.getMessage().contains("rank 1's conv1.weight differs");
            }
            expect(differed, "the checksum check must see rank-dependent init");
            StateSync.broadcastFromRoot(c, net.stateDict());
            StateSync.verifyIdentical(c, net.stateDict(), "after the broadcast");
            for (Map.Entry<String, NDArray> e : net.stateDict().entrySet()) {
                expect(maxDiff(e.getValue().toType(DataType.FLOAT32, false),
                        rank0.stateDict().get(e.getKey()).toType(DataType.FLOAT32, false)) == 0,
                        "broadcast " + e.getKey());
            }
            ok(c, "state-broadcast");

            // gradients: eval-mode BN makes the loss a plain mean over images, so the mean of the ranks'
            // gradients on B images each must equal one process's gradient on all 2B
            Networks.setRequiresGradient(net, true);
            Networks.setRequiresGradient(rank0, true);
            try (NDManager m = root.newSubManager()) {
                NDArray all = globalImages(m);
                gradients(net, all.get(r * B + ":" + (r + 1) * B));
                gradients(rank0, all);
                // small buckets: several tensors per bucket and tensors larger than a bucket
                new GradientAverager(c, 2048).averageOf(net.parameters());
                for (Map.Entry<String, NDArray> e : net.parameters().entrySet()) {
                    try (NDArray got = e.getValue().getGradient();
                         NDArray want = rank0.parameters().get(e.getKey()).getGradient()) {
                        float d = maxDiff(got, want);
                        float scale = want.abs().max().getFloat();
                        expect(d <= 1e-4 * Math.max(scale, 1e-3f), "gradient " + e.getKey() + " off by " + d);
                    }
                }
            }
            ok(c, "gradient-average");
        }
    }

    private static void gradients(ResNet net, NDArray x) {
        try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            NDArray out = net.forward(x, false);
            gc.backward(out.square().sum(new int[] {1}).mean());
        }
    }

    /** Prints libtorch's intra-op threads before and after the core share is applied. */
    static void threads(OpenMpi c) {
        int before = CoreShare.libtorchThreads();
        // setting the count takes effect inside an MPI job (where MKL lowered it on its own): all cores, then the share
        CoreShare all = CoreShare.of(Runtime.getRuntime().availableProcessors(), 1).apply();
        System.out.println("threads rank " + c.rank() + " all-cores " + all.threads() + " libtorch "
                + CoreShare.libtorchThreads());
        CoreShare share = CoreShare.forRank(c).apply();
        System.out.println(share.describe(c));
        System.out.println("threads rank " + c.rank() + " before " + before + " after " + CoreShare.libtorchThreads()
                + " share " + share.threads() + " cores " + share.cores());
    }

    /** Rank 1 is killed with SIGKILL while rank 0 waits in a collective. */
    static void die(OpenMpi c) throws Exception {
        c.barrier();
        if (c.rank() == 1) {
            System.out.println("rank 1 kills itself");
            System.out.flush();
            new ProcessBuilder("kill", "-9", Long.toString(ProcessHandle.current().pid())).start().waitFor();
            Thread.sleep(60_000);
        }
        c.barrier();
        System.out.println("rank " + c.rank() + " passed a barrier its peer never entered");
    }

    /** Rank 1 stops calling collectives (alive but hung); rank 0's watchdog must end the job. */
    static void hang(OpenMpi c) throws Exception {
        c.barrier();
        if (c.rank() == 1) {
            Thread.sleep(120_000);
        }
        c.barrier();
        System.out.println("rank " + c.rank() + " passed a barrier its peer never entered");
    }

    /** A Java exception on rank 1 must stop the job with one line naming the rank. */
    static void exception(OpenMpi c) {
        c.barrier();
        if (c.rank() == 1) {
            throw new IllegalStateException("simulated failure on rank 1");
        }
        c.barrier();
        System.out.println("rank 0 passed a barrier its peer never entered");
    }

    /** Both ranks ignore INT, TERM and HUP and keep running: the launcher's stop timeout must end them. */
    static void ignoreSignals(OpenMpi c) throws Exception {
        for (String name : new String[] {"INT", "TERM", "HUP"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> System.out.println("rank " + c.rank()
                    + " ignores SIG" + sig.getName()));
        }
        c.barrier();
        System.out.println("ready rank " + c.rank());
        System.out.flush();
        Thread.sleep(180_000);
        System.out.println("rank " + c.rank() + " was never ended");
    }
}
