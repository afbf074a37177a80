package io.moco4j.train;

import io.moco4j.config.MocoConfig;
import io.moco4j.dist.BnGroups;
import io.moco4j.util.UserException;
import java.util.Locale;
import java.util.Optional;

/**
 * What {@code --resume} does when the checkpoint was trained on another number of processes (ranks) than this run.
 *
 * <p>The global batch ({@code train.batch_size}), the data order (one permutation per epoch; rank r takes a block of
 * every global batch, so a global batch holds the same images for any rank count) and the queue do not depend on the
 * rank count. What does:
 * <ul>
 *   <li>MoCo v1/v2: {@code moco.bn_splits} S is a number of BatchNorm groups over the global batch, each rank running
 *       S / N of them on the images of those groups, and Shuffle BN permutes over the same groups
 *       ({@link io.moco4j.dist.BnGroups}). When S divides by both counts every step normalises exactly as before;
 *       only the float summation order changes. Continued, with a note. When it does not (a checkpoint of a run whose
 *       groups could not be split that way), refused unless {@code train.allow_rank_change} is set.</li>
 *   <li>MoCo v3: SyncBN normalises over the global batch and the keys of every rank are gathered, so a step is the
 *       single-process step over the global batch on any rank count (MpiJobTest's v3 check); only the float
 *       summation order changes. Continued, with a note.</li>
 * </ul>
 */
public final class RankChange {
    private RankChange() {}

    /**
     * Refuses (UserException) or accepts continuing {@code ckpt} on {@code ranks} processes; returns the note to print
     * when the count changes and the run continues, empty when it does not change.
     */
    public static Optional<String> check(Checkpoints.Loaded ckpt, int ranks, MocoConfig cfg) {
        int before = ckpt.ranks();
        if (before == ranks) {
            return Optional.empty();
        }
        if (cfg.version() == 3) {
            return Optional.of(String.format(Locale.ROOT, "Note: %s was trained on %s, this run has %s; MoCo v3 uses "
                    + "SyncBN over the global batch of %d, so the run continues the same steps (up to float summation "
                    + "order).", ckpt.file(), processes(before), processes(ranks), cfg.train().batchSize()));
        }
        int splits = cfg.moco().bnSplits();
        if (BnGroups.divides(splits, before) && BnGroups.divides(splits, ranks)) {
            return Optional.of(String.format(Locale.ROOT, "Note: %s was trained on %s, this run has %s; its %d BatchNorm "
                    + "groups of the global batch of %d split over both, so the run continues the same steps (up to float "
                    + "summation order).", ckpt.file(), processes(before), processes(ranks), splits,
                    cfg.train().batchSize()));
        }
        if (!cfg.train().allowRankChange()) {
            throw new UserException(String.format(Locale.ROOT, "%s was trained on %s but this run has %s; its "
                    + "moco.bn_splits %d does not split over both, so MoCo v%d's BatchNorm groups and Shuffle BN cannot "
                    + "continue exactly: resume with --processes %d (or mpirun -np %d), or pass --set "
                    + "train.allow_rank_change=true to continue with the same global batch, data order and queue but not "
                    + "bit-identically", ckpt.file(), processes(before), processes(ranks), splits, cfg.version(), before,
                    before));
        }
        return Optional.of(String.format(Locale.ROOT, "Note: %s was trained on %s, this run has %s "
                + "(train.allow_rank_change): same global batch, data order and queue, but BatchNorm groups and Shuffle BN "
                + "differ, so the run is not bit-identical to one that kept %d.", ckpt.file(), processes(before),
                processes(ranks), before));
    }

    private static String processes(int n) {
        return n == 1 ? "1 process" : n + " processes";
    }
}
