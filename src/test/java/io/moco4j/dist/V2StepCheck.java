package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.Encoders;
import io.moco4j.method.KeyQueue;
import io.moco4j.method.KeyShuffler;
import io.moco4j.method.MocoV1V2;
import io.moco4j.method.MomentumContrast;
import io.moco4j.method.SingleDeviceShuffler;
import io.moco4j.model.Encoder;
import io.moco4j.optim.Sgd;
import io.moco4j.optim.SgdConfig;
import io.moco4j.train.StateSync;
import java.util.Map;

/**
 * One full MoCo v2 training step on 2 ranks against the single-process step on the same global batch of 2B images,
 * both with the preset's own {@code moco.bn_splits} (cpu-small: 8 groups over the global batch, so 4 on each rank)
 * and the same Shuffle BN seed, then several steps after which the ranks must still hold identical models and
 * queues. Nothing is rearranged by hand: each rank takes the positions of the global batch that the data loader
 * gives it ({@link ShardedOrder} for this configuration), and the model, BatchNorm running statistics and queue must
 * come out as the single process's. Runs inside each rank of the forked job, or in thread ranks.
 *
 * <p>The bounds are measured in the same run ({@link NoiseFloor}, as {@link V3StepCheck} does): a third model takes
 * the same single-process step on the batch reversed, x' = x[2B-1-i], with Shuffle BN permuting it so that the key
 * encoder sees the single run's shuffled batch reversed ({@link #reversed}). Split BN puts sample i in group i mod S,
 * and i -> 2B-1-i maps group g onto group S-1-g, so every BatchNorm group holds the same images in both runs: the
 * results are equal in exact arithmetic and differ only by summation order. The data-parallel result may differ by
 * 10 x that floor, and never less than {@link #ULP_FLOOR}.
 */
final class V2StepCheck {
    static final int B = 8;
    static final double LR = 0.5;
    static final double M = 0.9;
    static final long SHUFFLE_SEED = 7;
    /**
     * Where the reversed run is bit-identical: weights, BN statistics and keys are O(0.1..1) here, and 1e-6 absolute
     * is 8..16 float32 ulps of 1 (for the loss, relative: {@link MocoV3MirroredStepTest#ULP_FLOOR}, the same number).
     */
    static final double ULP_FLOOR = MocoV3MirroredStepTest.ULP_FLOOR;

    private V2StepCheck() {}

    /** The cpu-small preset, narrowed for speed; its bn_splits (8) stays. */
    static MocoConfig config() {
        return ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=32").set("train.batch_size=" + 2 * B).set("moco.momentum=" + M).build();
    }

    static MocoV1V2 build(MocoConfig cfg, NDManager root, KeyShuffler shuffler) {
        Encoder q = Encoders.create(cfg, root, 3);
        Encoder k = Encoders.create(cfg, root, 4);
        KeyQueue queue = KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), 5);
        return MocoV1V2.initial(q, k, queue, shuffler, cfg.moco().temperature(), cfg.moco().symmetric());
    }

    /** The views of step {@code s}: 2B images, identical on every rank. */
    static NDArray[] views(NDManager m, int s) {
        NDArray base = m.arange(2 * B * 3 * 16 * 16f).reshape(2 * B, 3, 16, 16);
        return new NDArray[] {base.mul(0.013f + s).sin(), base.mul(0.029f + s).cos()};
    }

    /**
     * Shuffle BN for the reversed batch x': row i of the shuffled batch is x'[2B-1-p[2B-1-i]] = x[p[2B-1-i]], the
     * single run's shuffled batch reversed; restoring puts the keys back in x' order.
     */
    static KeyShuffler reversed(SingleDeviceShuffler single) {
        return (batch, step) -> {
            int n = Math.toIntExact(batch.getShape().get(0));
            long[] p = single.permutation(n, step);
            long[] perm = new long[n];
            for (int i = 0; i < n; i++) {
                perm[i] = n - 1 - p[n - 1 - i];
            }
            return KeyShuffler.permuted(batch, perm);
        };
    }

    static NDArray rows(NDArray x, long[] idx) {
        return x.get(x.getManager().create(idx));
    }

    /** Positions of the global batch this rank trains on: what its data loader delivers for this configuration. */
    static long[] positions(MocoConfig cfg, Collectives c) {
        int[] identity = new int[2 * B];
        for (int i = 0; i < identity.length; i++) {
            identity[i] = i;
        }
        int[] mine = new io.moco4j.data.Shard(c.rank(), c.size(),
                BnGroups.layout(cfg.version(), cfg.moco().bnSplits(), cfg.train().batchSize(), c.size())).batch(identity, 0, B);
        return java.util.Arrays.stream(mine).asLongStream().toArray();
    }

    static void run(Collectives c) {
        run(c, io.moco4j.precision.Precision.FP32);
    }

    /**
     * The same check with the encoders' forwards in {@code precision}: in bf16 the ranks' gradients are averaged in
     * float32 (each rank's weight gradients leave autocast's casts as float32), SyncBN-free split BN and the key
     * gather see bf16 encoder outputs brought back to float32; the reversed-batch floor is measured in bf16 too.
     */
    static void run(Collectives c, io.moco4j.precision.Precision precision) {
        int r = c.rank();
        MocoConfig cfg = config();
        MpiRankMain.expect(cfg.moco().bnSplits() == 8, "the preset's bn_splits is " + cfg.moco().bnSplits());
        try (NDManager root = NDManager.newBaseManager();
             MocoV1V2 dist = build(cfg, root, new SingleDeviceShuffler(SHUFFLE_SEED));
             MocoV1V2 single = build(cfg, root, new SingleDeviceShuffler(SHUFFLE_SEED));
             MocoV1V2 rev = build(cfg, root, reversed(new SingleDeviceShuffler(SHUFFLE_SEED)));
             Sgd sgdDist = new Sgd(new SgdConfig(0.9, 5e-4, 0, false));
             Sgd sgdSingle = new Sgd(new SgdConfig(0.9, 5e-4, 0, false));
             Sgd sgdRev = new Sgd(new SgdConfig(0.9, 5e-4, 0, false))) {
            dist.setPrecision(precision);
            single.setPrecision(precision);
            rev.setPrecision(precision);
            dist.distribute(c);
            StateSync.startTogether(c, dist);
            long[] mine = positions(cfg, c);
            MomentumContrast.StepResult d;
            MomentumContrast.StepResult s;
            MomentumContrast.StepResult x;
            try (NDManager step = root.newSubManager()) {
                NDArray[] v = views(step, 0);
                d = dist.train(rows(v[0], mine), rows(v[1], mine), 0, sgdDist, LR, M);
                s = single.train(v[0], v[1], 0, sgdSingle, LR, M);
                x = rev.train(v[0].flip(0), v[1].flip(0), 0, sgdRev, LR, M);
            }
            MpiRankMain.expect(Math.abs(d.acc1() - s.acc1()) < 1e-3, "acc1 " + d.acc1() + " vs " + s.acc1());
            float loss = NoiseFloor.expectWithin("loss (relative)", Math.abs(d.loss() - s.loss()) / Math.abs(s.loss()),
                    Math.abs(x.loss() - s.loss()) / Math.abs(s.loss()), ULP_FLOOR);
            float wq = within("query encoder", dist.encoderQ().parameters(), rev.encoderQ().parameters(),
                    single.encoderQ().parameters());
            float wk = within("key encoder", dist.encoderK().parameters(), rev.encoderK().parameters(),
                    single.encoderK().parameters());
            float bq = within("query BatchNorm statistics", dist.encoderQ().buffers(), rev.encoderQ().buffers(),
                    single.encoderQ().buffers());
            float bk = within("key BatchNorm statistics", dist.encoderK().buffers(), rev.encoderK().buffers(),
                    single.encoderK().buffers());
            // the queue holds the global batch's keys in the single process's order (the reversed run's in reverse)
            NDArray want = single.queue().keys();
            NDArray revKeys = rev.queue().keys();
            NDArray revInOrder = revKeys.get("0:" + 2 * B).flip(0).concat(revKeys.get(2 * B + ":"));
            float qd = want.sub(dist.queue().keys()).abs().max().getFloat();
            float qn = want.sub(revInOrder).abs().max().getFloat();
            NoiseFloor.expectWithin("queue keys", qd, qn, ULP_FLOOR);
            MpiRankMain.expect(dist.queue().pointer() == 2 * B, "pointer " + dist.queue().pointer());
            MpiRankMain.ok(c, "v2-step-equals-single-process");
            System.out.println("v2 step " + precision + " rank " + r + ": data-parallel vs one process (noise floor: reversed batch):"
                    + " loss " + loss + " (" + Math.abs(x.loss() - s.loss()) / Math.abs(s.loss()) + ") query " + wq
                    + " (" + maxDiff(rev.encoderQ().parameters(), single.encoderQ().parameters()) + ") key " + wk
                    + " (" + maxDiff(rev.encoderK().parameters(), single.encoderK().parameters()) + ") BN " + bq + ", "
                    + bk + " (" + maxDiff(rev.encoderQ().buffers(), single.encoderQ().buffers()) + ", "
                    + maxDiff(rev.encoderK().buffers(), single.encoderK().buffers()) + ") queue " + qd + " (" + qn + ")");

            for (int i = 1; i <= 3; i++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = views(step, i);
                    dist.train(rows(v[0], mine), rows(v[1], mine), i, sgdDist, LR, M);
                }
            }
            StateSync.verifyIdentical(c, StateSync.state(dist), "after 4 steps");
            long[] pointers = c.allGather(new long[] {dist.queue().pointer()});
            MpiRankMain.expect(pointers[0] == 0 && pointers[1] == 0, "pointers after 4 x 16 keys in 32: "
                    + java.util.Arrays.toString(pointers));
            MpiRankMain.ok(c, "queues-identical");
        }
    }

    static float maxDiff(Map<String, NDArray> got, Map<String, NDArray> want) {
        float max = 0;
        for (Map.Entry<String, NDArray> e : want.entrySet()) {
            NDArray g = got.get(e.getKey()).toType(DataType.FLOAT32, false);
            max = Math.max(max, g.sub(e.getValue().toType(DataType.FLOAT32, false)).abs().max().getFloat());
        }
        return max;
    }

    /** Worst absolute difference of {@code got} from {@code want}, bounded by the reversed run's ({@link NoiseFloor}). */
    static float within(String what, Map<String, NDArray> got, Map<String, NDArray> reversed, Map<String, NDArray> want) {
        return NoiseFloor.expectWithin(what, maxDiff(got, want), maxDiff(reversed, want), ULP_FLOOR);
    }
}
