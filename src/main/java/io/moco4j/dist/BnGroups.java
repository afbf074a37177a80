package io.moco4j.dist;

import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * MoCo v1/v2's split BatchNorm as a property of the global batch: {@code moco.bn_splits} S means S groups over
 * {@code train.batch_size}, whatever the number of processes N. Each rank runs S / N of them on the images of those
 * groups ({@link io.moco4j.data.Shard} deals the global batch out accordingly), so N processes normalise exactly
 * as one process with the same global batch, and Shuffle BN permutes over the same groups. N must divide S.
 * MoCo v3 normalises over the whole global batch with SyncBN and has no groups.
 */
public final class BnGroups {
    private BnGroups() {}

    /**
     * The BatchNorm splits each rank runs for MoCo {@code version} with {@code splits} groups over a global batch of
     * {@code globalBatch}: S / N for v1/v2; a one-line UserException naming what would work when N does not divide S.
     */
    public static int perRank(int version, int splits, int globalBatch, int ranks) {
        if (version >= 3 || ranks == 1) {
            return splits;
        }
        return perRank(splits, globalBatch, ranks);
    }

    /** The groups the global batch is dealt out by ({@link io.moco4j.data.Shard#groups()}): S for v1/v2 on several ranks, else 0 (blocks). */
    public static int layout(int version, int splits, int globalBatch, int ranks) {
        if (version >= 3 || ranks == 1) {
            return 0;
        }
        perRank(splits, globalBatch, ranks);
        return splits;
    }

    /** Whether a v1/v2 run with {@code splits} groups can run on {@code ranks} processes. */
    public static boolean divides(int splits, int ranks) {
        return splits % ranks == 0;
    }

    /** @param globalBatch for the suggestion of other bn_splits values; 0 when unknown */
    public static int perRank(int splits, int globalBatch, int ranks) {
        if (ranks < 1) {
            throw new IllegalArgumentException("ranks must be at least 1, got " + ranks);
        }
        if (divides(splits, ranks)) {
            return splits / ranks;
        }
        StringBuilder msg = new StringBuilder(String.format(Locale.ROOT, "moco.bn_splits %d means %d BatchNorm groups over "
                + "the global batch, which %d processes cannot share evenly: use --processes %s", splits, splits, ranks,
                or(divisors(splits))));
        if (globalBatch > 0) {
            List<Integer> other = new ArrayList<>();
            for (int k = ranks; k <= globalBatch && other.size() < 4; k += ranks) {
                if (globalBatch % k == 0) {
                    other.add(k);
                }
            }
            msg.append(other.isEmpty()
                    ? String.format(Locale.ROOT, " (train.batch_size %d has no group count divisible by %d)", globalBatch, ranks)
                    : String.format(Locale.ROOT, ", or --set moco.bn_splits=%s to keep %d processes (a multiple of %d that "
                            + "divides train.batch_size %d)", or(other), ranks, ranks, globalBatch));
        }
        throw new UserException(msg.toString());
    }

    static List<Integer> divisors(int n) {
        List<Integer> d = new ArrayList<>();
        for (int k = 1; k <= n; k++) {
            if (n % k == 0) {
                d.add(k);
            }
        }
        return d;
    }

    private static String or(List<Integer> values) {
        List<String> s = values.stream().map(String::valueOf).collect(Collectors.toList());
        return s.size() == 1 ? s.get(0) : String.join(", ", s.subList(0, s.size() - 1)) + " or " + s.get(s.size() - 1);
    }
}
