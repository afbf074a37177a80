package io.moco4j.optim;

import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A learning-rate schedule as configured by the user; {@link #build()} validates it and makes the
 * {@link LrSchedule}.
 *
 * @param kind         {@code constant}, {@code step} (alias {@code multistep}), {@code cosine} (alias {@code cos}) or
 *                     {@code warmup_cosine} (moco-v3: per-iteration warm-up from 0, then half-cosine to 0)
 * @param baseLr       the peak rate (apply {@link LrSchedule#linearScaledLr} first if wanted)
 * @param epochs       total training epochs, warm-up included
 * @param milestones   for {@code step}: epochs (0-based, counted from the start of training, warm-up
 *                     included) from which the rate is multiplied by {@code gamma}; null means none.
 *                     Other kinds ignore them, as official MoCo ignores {@code --schedule} under {@code --cos}
 * @param gamma        for {@code step}: the decay factor, 0.1 in official MoCo
 * @param warmupEpochs epochs of linear per-step warm-up before the schedule; 0 for none
 * @param perStep      for {@code cosine}: decay within epochs (fractional epoch) instead of once per epoch
 * @param minLr        the final rate of {@code cosine} ({@code eta_min}); a floor for {@code step}; 0 for none
 */
public record LrScheduleConfig(String kind, double baseLr, int epochs, List<Integer> milestones, double gamma,
        int warmupEpochs, boolean perStep, double minLr) {

    public LrScheduleConfig {
        milestones = milestones == null ? List.of() : List.copyOf(milestones);
    }

    /** Official MoCo v1: {@code --lr 0.03 --schedule 120 160}, 200 epochs. */
    public static LrScheduleConfig step(double baseLr, int epochs, List<Integer> milestones) {
        return new LrScheduleConfig("step", baseLr, epochs, milestones, 0.1, 0, false, 0);
    }

    /** Official MoCo v2: {@code --cos}, per epoch, decaying to 0. */
    public static LrScheduleConfig cosine(double baseLr, int epochs) {
        return new LrScheduleConfig("cosine", baseLr, epochs, List.of(), 0.1, 0, false, 0);
    }

    public LrSchedule build() {
        String k = kind == null ? "" : kind.trim().toLowerCase(Locale.ROOT);
        if (!(baseLr > 0) || Double.isInfinite(baseLr)) {
            throw new UserException("learning rate " + baseLr + " is invalid; use a positive value such as 0.03");
        }
        if (epochs < 1) {
            throw new UserException("epochs " + epochs + " is invalid; train for at least 1 epoch");
        }
        if (warmupEpochs < 0 || warmupEpochs >= epochs) {
            throw new UserException("warm-up of " + warmupEpochs + " epochs is invalid for " + epochs
                    + " epochs; use 0 <= warmup < epochs");
        }
        if (!(minLr >= 0) || minLr > baseLr) {
            throw new UserException("minimum learning rate " + minLr + " is invalid; use 0 <= min lr <= lr (" + baseLr + ")");
        }
        if (k.equals("warmup_cosine")) {
            // moco-v3's own formula: warm-up from 0 and the cosine are one schedule, per iteration, down to 0.
            if (minLr != 0) {
                throw new UserException("warmup_cosine decays to 0 as moco-v3 does; set min_lr to 0 or use the cosine schedule");
            }
            return new WarmupCosineLr(baseLr, warmupEpochs, epochs);
        }
        LrSchedule schedule = switch (k) {
            case "constant" -> new ConstantLr(baseLr);
            case "step", "multistep" -> stepSchedule();
            case "cosine", "cos" -> new CosineLr(baseLr, epochs - warmupEpochs, perStep, minLr);
            default -> throw new UserException("learning-rate schedule '" + kind
                    + "' is unknown; use constant, step, cosine or warmup_cosine");
        };
        return warmupEpochs == 0 ? schedule : new LinearWarmupLr(schedule, warmupEpochs);
    }

    private LrSchedule stepSchedule() {
        if (!(gamma > 0) || gamma > 1) {
            throw new UserException("step decay factor gamma " + gamma + " is invalid; use 0 < gamma <= 1, such as 0.1");
        }
        // The warm-up wrapper restarts the clock when warm-up ends; shift so milestones stay
        // counted from the start of training, as users write them.
        List<Integer> shifted = new ArrayList<>();
        for (int m : milestones) {
            if (m < warmupEpochs) {
                throw new UserException("milestone " + m + " falls inside the " + warmupEpochs
                        + " warm-up epochs; use milestones >= " + warmupEpochs);
            }
            shifted.add(m - warmupEpochs);
        }
        return new MultiStepLr(baseLr, shifted, gamma, minLr);
    }
}
