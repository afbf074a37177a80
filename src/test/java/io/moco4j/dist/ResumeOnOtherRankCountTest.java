package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDManager;
import io.moco4j.config.ConfigLoader;
import io.moco4j.config.MocoConfig;
import io.moco4j.method.MethodFactory;
import io.moco4j.method.MomentumContrast;
import io.moco4j.optim.Optimizer;
import io.moco4j.train.Checkpoints;
import io.moco4j.train.Optimizers;
import io.moco4j.train.RankChange;
import io.moco4j.train.TrainingProgress;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints record how many processes trained them. {@code --resume} on another count continues MoCo v1/v2 with a note
 * when its bn_splits (groups of the global batch) split over both counts, refuses it with the fix where they do not
 * (unless train.allow_rank_change), and continues MoCo v3 (SyncBN) with a note.
 */
class ResumeOnOtherRankCountTest {
    @BeforeAll
    static void allowV3OnSeveralRanks() {
    }

    @TempDir
    Path dir;

    static MocoConfig v2() {
        return V2StepCheck.config(); // cpu-small's bn_splits 8
    }

    /** A checkpoint of a fresh model of {@code cfg} saved by a run on {@code ranks}. */
    Checkpoints.Loaded saved(MocoConfig cfg, Collectives ranks) throws Exception {
        Path file = dir.resolve("c" + cfg.version() + "-" + ranks.size() + ".ckpt");
        try (NDManager root = NDManager.newBaseManager();
             MomentumContrast moco = MethodFactory.fresh(cfg, root);
             Optimizer opt = Optimizers.from(cfg)) {
            moco.distribute(ranks);
            Checkpoints.save(file, cfg, moco, opt, TrainingProgress.START);
        }
        return Checkpoints.load(file);
    }

    @Test
    void theRankCountIsStoredAndReadBack() throws Exception {
        assertEquals(2, saved(v2(), new MirroredRanks()).ranks());
        assertEquals(1, saved(v2(), SingleProcess.INSTANCE).ranks());
    }

    @Test
    void v2ContinuesOnAnotherCountWhenItsBatchNormGroupsSplitOverBoth() throws Exception {
        Checkpoints.Loaded two = saved(v2(), new MirroredRanks());
        assertEquals(Optional.empty(), RankChange.check(two, 2, v2()));
        for (int ranks : new int[] {1, 4, 8}) {
            Optional<String> note = RankChange.check(two, ranks, v2());
            assertTrue(note.isPresent() && note.get().contains("8 BatchNorm groups") && note.get().contains("same steps"),
                    ranks + ": " + note);
        }
        Checkpoints.Loaded one = saved(v2(), SingleProcess.INSTANCE);
        assertTrue(RankChange.check(one, 2, v2()).isPresent());
    }

    @Test
    void v2WhereTheGroupsDoNotSplitStopsNamingBothCountsAndTheFixes() throws Exception {
        Checkpoints.Loaded two = saved(v2(), new MirroredRanks());
        UserException e = assertThrows(UserException.class, () -> RankChange.check(two, 3, v2()));
        for (String part : new String[] {"trained on 2 processes", "this run has 3 processes", "bn_splits 8",
            "--processes 2", "mpirun -np 2", "--set train.allow_rank_change=true", "not bit-identically"}) {
            assertTrue(e.getMessage().contains(part), part + " in: " + e.getMessage());
        }
        assertFalse(e.getMessage().contains("\n"), "one line");
        Checkpoints.Loaded one = saved(v2(), SingleProcess.INSTANCE);
        UserException e3 = assertThrows(UserException.class, () -> RankChange.check(one, 3, v2()));
        assertTrue(e3.getMessage().contains("trained on 1 process but this run has 3 processes"), e3.getMessage());
    }

    @Test
    void v2WithTheOverrideContinuesWithANote() throws Exception {
        Checkpoints.Loaded two = saved(v2(), new MirroredRanks());
        MocoConfig allowed = ConfigLoader.of(v2()).set("train.allow_rank_change=true").build();
        Optional<String> note = RankChange.check(two, 3, allowed);
        assertTrue(note.isPresent() && note.get().contains("not bit-identical"), note.toString());
    }

    @Test
    void v3ContinuesOnAnotherCountBecauseSyncBnSeesTheGlobalBatch() throws Exception {
        MocoConfig v3 = V3StepCheck.config("resnet");
        Checkpoints.Loaded two = saved(v3, new MirroredRanks());
        Optional<String> note = RankChange.check(two, 1, v3);
        assertTrue(note.isPresent() && note.get().contains("SyncBN"), note.toString());
    }
}
