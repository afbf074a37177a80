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
 * One full MoCo v2 training step on 2 ranks x B images against the single-process step on the same 2B images
 * with the equivalent BatchNorm grouping and key permutation, then several steps after which the ranks must
 * still hold identical models and queues. Runs inside each rank of the forked job.
 *
 * <p>The equivalence: rank r holds images [rB, (r+1)B) of the global batch X. One process sees them interleaved,
 * X'[2j + r] = X[rB + j], with bn_splits 2, so its BatchNorm group r (samples i mod 2 == r) is rank r's batch.
 * Its key shuffler is the cross-rank permutation p in the same layout: position 2j + r of its shuffled batch
 * holds X[p[rB + j]], the j-th image rank r encodes.
 */
final class V2StepCheck {
    static final int B = 4;
    static final double LR = 0.5;
    static final double M = 0.9;
    static final long SHUFFLE_SEED = 7;

    private V2StepCheck() {}

    static MocoConfig config(int bnSplits) {
        return ConfigLoader.defaults().preset("cpu-small").set("model.width=0.125").set("model.dim=8")
                .set("moco.queue_size=16").set("train.batch_size=" + 2 * B).set("moco.bn_splits=" + bnSplits)
                .set("moco.momentum=" + M).build();
    }

    static MocoV1V2 build(MocoConfig cfg, NDManager root, KeyShuffler shuffler) {
        Encoder q = Encoders.create(cfg, root, 3);
        Encoder k = Encoders.create(cfg, root, 4);
        KeyQueue queue = KeyQueue.random(root, cfg.moco().queueSize(), cfg.model().dim(), 5);
        return MocoV1V2.initial(q, k, queue, shuffler, cfg.moco().temperature(), cfg.moco().symmetric());
    }

    /** Position in the single-process batch of global image i (held by rank i / B as its (i % B)-th). */
    static int interleaved(int i) {
        return (i % B) * 2 + i / B;
    }

    /** The views of step {@code s}: 2B images, identical on every rank. */
    static NDArray[] views(NDManager m, int s) {
        NDArray base = m.arange(2 * B * 3 * 16 * 16f).reshape(2 * B, 3, 16, 16);
        return new NDArray[] {base.mul(0.013f + s).sin(), base.mul(0.029f + s).cos()};
    }

    static NDArray rows(NDArray x, long[] idx) {
        return x.get(x.getManager().create(idx));
    }

    static void run(OpenMpi c) {
        int r = c.rank();
        try (NDManager root = NDManager.newBaseManager();
             MocoV1V2 dist = build(config(1), root, new SingleDeviceShuffler(SHUFFLE_SEED));
             MocoV1V2 single = build(config(2), root, new InterleavedShuffle());
             Sgd sgdDist = new Sgd(new SgdConfig(0.9, 5e-4, 0, false));
             Sgd sgdSingle = new Sgd(new SgdConfig(0.9, 5e-4, 0, false))) {
            dist.distribute(c);
            StateSync.startTogether(c, dist);
            long[] mine = new long[B];
            long[] toSingle = new long[2 * B];
            for (int j = 0; j < B; j++) {
                mine[j] = (long) r * B + j;
            }
            for (int i = 0; i < 2 * B; i++) {
                toSingle[interleaved(i)] = i;
            }
            MomentumContrast.StepResult d;
            MomentumContrast.StepResult s;
            try (NDManager step = root.newSubManager()) {
                NDArray[] v = views(step, 0);
                d = dist.train(rows(v[0], mine), rows(v[1], mine), 0, sgdDist, LR, M);
                s = single.train(rows(v[0], toSingle), rows(v[1], toSingle), 0, sgdSingle, LR, M);
            }
            MpiRankMain.expect(Math.abs(d.loss() - s.loss()) < 1e-5 * Math.abs(s.loss()),
                    "loss " + d.loss() + " vs one process " + s.loss());
            MpiRankMain.expect(Math.abs(d.acc1() - s.acc1()) < 1e-3, "acc1 " + d.acc1() + " vs " + s.acc1());
            compare("query encoder", dist.encoderQ().parameters(), single.encoderQ().parameters(), 1e-5f);
            compare("key encoder", dist.encoderK().parameters(), single.encoderK().parameters(), 1e-6f);
            // the queue holds the global batch's keys: rank order here, interleaved in the single process
            long[] fromSingle = new long[2 * B];
            for (int i = 0; i < 2 * B; i++) {
                fromSingle[i] = interleaved(i);
            }
            NDArray dq = dist.queue().keys().get("0:" + 2 * B);
            NDArray sq = rows(single.queue().keys().get("0:" + 2 * B), fromSingle);
            float qd = dq.sub(sq).abs().max().getFloat();
            MpiRankMain.expect(qd < 1e-5, "queue keys differ from one process's by " + qd);
            MpiRankMain.expect(dist.queue().pointer() == 2 * B, "pointer " + dist.queue().pointer());
            MpiRankMain.ok(c, "v2-step-equals-single-process");
            System.out.println("v2 step rank " + r + ": loss " + d.loss() + " single " + s.loss());

            for (int i = 1; i <= 3; i++) {
                try (NDManager step = root.newSubManager()) {
                    NDArray[] v = views(step, i);
                    dist.train(rows(v[0], mine), rows(v[1], mine), i, sgdDist, LR, M);
                }
            }
            StateSync.verifyIdentical(c, StateSync.state(dist), "after 4 steps");
            long[] pointers = c.allGather(new long[] {dist.queue().pointer()});
            MpiRankMain.expect(pointers[0] == 0 && pointers[1] == 0, "pointers after 4 x 8 keys in 16: "
                    + java.util.Arrays.toString(pointers));
            MpiRankMain.ok(c, "queues-identical");
        }
    }

    static void compare(String what, Map<String, NDArray> got, Map<String, NDArray> want, float tol) {
        int moved = 0;
        for (Map.Entry<String, NDArray> e : want.entrySet()) {
            NDArray g = got.get(e.getKey()).toType(DataType.FLOAT32, false);
            float diff = g.sub(e.getValue()).abs().max().getFloat();
            MpiRankMain.expect(diff <= tol, what + " " + e.getKey() + " differs from one process by " + diff);
        }
    }

    /** The cross-rank permutation of the global batch, laid out for the interleaved single-process batch. */
    static final class InterleavedShuffle implements KeyShuffler {
        @Override
        public Shuffled shuffle(NDArray batch, long step) {
            long[] p = new SingleDeviceShuffler(SHUFFLE_SEED).permutation(2 * B, step);
            long[] q = new long[2 * B];
            for (int rank = 0; rank < 2; rank++) {
                for (int j = 0; j < B; j++) {
                    q[2 * j + rank] = interleaved((int) p[rank * B + j]);
                }
            }
            long[] inverse = new long[2 * B];
            for (int i = 0; i < q.length; i++) {
                inverse[(int) q[i]] = i;
            }
            NDArray shuffled = rows(batch, q);
            return new Shuffled() {
                @Override
                public NDArray batch() {
                    return shuffled;
                }

                @Override
                public NDArray restore(NDArray rows) {
                    return rows(rows, inverse);
                }
            };
        }
    }
}
