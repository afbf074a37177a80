package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import io.moco4j.cli.Main;
import io.moco4j.data.GeneratedScenes;
import io.moco4j.data.Shard;
import io.moco4j.data.ViewBatch;
import io.moco4j.data.ViewLoader;
import io.moco4j.data.ViewTransform;
import io.moco4j.util.UserException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code moco.bn_splits} S is a number of BatchNorm groups over the global batch: one process normalises position
 * p in group {@code p mod S}; N ranks each run S / N of those groups on exactly their images, with Shuffle BN and
 * the queue over the same groups, so a v1/v2 step is the single-process step (checked on a forked 2-rank job by
 * {@link MpiJobTest}: DJL collects gradients for one thread at a time, so thread ranks cannot run it).
 */
class GlobalBnGroupsTest {

    /** The positions of the global batch in the groups of rank r, from the single-process rule p mod S. */
    static List<Integer> groupPositions(int rank, int ranks, int splits, int globalBatch) {
        int perRank = splits / ranks;
        List<Integer> out = new ArrayList<>();
        for (int p = 0; p < globalBatch; p++) {
            if ((p % splits) / perRank == rank) {
                out.add(p);
            }
        }
        return out;
    }

    @Test
    void eachRankHoldsTheImagesOfItsGroupsInItsOwnSplitOrder() {
        for (int[] c : new int[][] {{2, 8, 16}, {2, 8, 256}, {4, 8, 64}, {8, 8, 64}, {2, 2, 8}}) {
            int ranks = c[0];
            int splits = c[1];
            int global = c[2];
            int local = global / ranks;
            for (int r = 0; r < ranks; r++) {
                Shard shard = new Shard(r, ranks, splits);
                List<Integer> want = groupPositions(r, ranks, splits, global);
                for (int l = 0; l < local; l++) {
                    int p = shard.position(l, local);
                    assertEquals(want.get(l), p, "rank " + r + " of " + ranks + ", local " + l);
                    // its local split (l mod S/N, as BatchNorm2d groups a batch) is its share of global group p mod S
                    assertEquals(p % splits, r * (splits / ranks) + l % (splits / ranks));
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new Shard(0, 3, 8));
    }

    @Test
    void aProcessCountThatDoesNotDivideTheGroupsIsRefusedNamingWhatWould() {
        assertEquals(4, BnGroups.perRank(8, 256, 2));
        assertEquals(1, BnGroups.perRank(8, 256, 8));
        UserException three = assertThrows(UserException.class, () -> BnGroups.perRank(8, 256, 3));
        assertTrue(three.getMessage().contains("--processes 1, 2, 4 or 8"), three.getMessage());
        assertTrue(three.getMessage().contains("train.batch_size 256 has no group count divisible by 3"), three.getMessage());
        UserException sixteen = assertThrows(UserException.class, () -> BnGroups.perRank(8, 256, 16));
        assertTrue(sixteen.getMessage().contains("--set moco.bn_splits=16, 32, 64 or 128"), sixteen.getMessage());
        UserException plain = assertThrows(UserException.class, () -> BnGroups.perRank(1, 256, 2));
        assertTrue(plain.getMessage().contains("--processes 1,") || plain.getMessage().contains("--processes 1 "),
                plain.getMessage());
        for (UserException e : List.of(three, sixteen, plain)) {
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
    }

    @Test
    void theLauncherRefusesBeforeStartingAnyProcess(@TempDir Path tmp) {
        StringWriter err = new StringWriter();
        // no mpirun is needed to get this answer: the refusal comes before the launcher looks for it
        int code = Main.run(new PrintWriter(err, true), "pretrain", "--preset", "cpu-small", "--processes", "3",
                "--out", tmp.resolve("run").toString());
        assertEquals(2, code, err.toString());
        assertTrue(err.toString().contains("moco.bn_splits 8") && err.toString().contains("--processes 1, 2, 4 or 8"),
                err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
    }

    /** A "view" of random values drawn from the sample's own stream (seed, epoch, index, view). */
    private static ViewTransform randomValues(int size) {
        return new ViewTransform() {
            @Override public int height() { return size; }
            @Override public int width() { return size; }
            @Override public void apply(io.moco4j.data.RgbImage image, java.util.random.RandomGenerator rng,
                                        float[] out, int offset) {
                for (int i = 0; i < 3 * size * size; i++) {
                    out[offset + i] = rng.nextFloat();
                }
            }
        };
    }

    @Test
    void loadersOfAGroupedRunDeliverTheImagesOfEachRanksGroups() {
        GeneratedScenes ds = GeneratedScenes.train(40, 5, 8);
        List<ViewTransform> views = List.of(randomValues(4));
        int global = V2StepCheck.config().train().batchSize();
        ShardedOrder order = ShardedOrder.of(ds.size(), global, 2, 0, 8); // cpu-small: 8 groups
        List<int[]> single = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager();
             ViewLoader l = ViewLoader.builder(ds, views).batchSize(global).seed(0).workers(1).build();
             ViewLoader.Epoch it = l.epoch(1, m)) {
            while (it.hasNext()) {
                try (ViewBatch b = it.next()) {
                    single.add(b.indices());
                }
            }
        }
        for (int rank = 0; rank < 2; rank++) {
            List<Integer> positions = groupPositions(rank, 2, 8, global);
            try (NDManager m = NDManager.newBaseManager();
                 ViewLoader l = order.configure(ViewLoader.builder(ds, views), rank).workers(1).build();
                 ViewLoader.Epoch it = l.epoch(1, m)) {
                int step = 0;
                while (it.hasNext()) {
                    try (ViewBatch b = it.next()) {
                        int[] want = new int[positions.size()];
                        for (int i = 0; i < want.length; i++) {
                            want[i] = single.get(step)[positions.get(i)];
                        }
                        assertArrayEquals(want, b.indices(), "rank " + rank + " step " + step);
                        step++;
                    }
                }
                assertEquals(single.size(), step);
            }
        }
    }
}
