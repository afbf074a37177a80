package io.moco4j.optim;

import java.util.List;

/**
 * Step decay per epoch: {@code max(minLr, base * gamma^m)} where m counts the milestones {@code <= epoch}
 * (a repeated milestone counts twice), as {@code torch.optim.lr_scheduler.MultiStepLR} and official
 * MoCo's {@code --schedule 120 160} (gamma 0.1). The floor {@code minLr} is ours; 0 disables it.
 */
public record MultiStepLr(double base, List<Integer> milestones, double gamma, double minLr) implements LrSchedule {

    public MultiStepLr {
        milestones = List.copyOf(milestones);
    }

    @Override
    public double lr(int epoch, int stepInEpoch, int stepsPerEpoch) {
        LrSchedule.checkProgress(epoch, stepInEpoch, stepsPerEpoch);
        double lr = base;
        for (int milestone : milestones) {
            if (epoch >= milestone) {
                lr *= gamma;
            }
        }
        return Math.max(lr, minLr);
    }
}
