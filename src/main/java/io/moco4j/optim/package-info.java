/**
 * Optimisation: {@link io.moco4j.optim.Sgd} with exactly torch.optim.SGD's update and saveable
 * momentum state, and learning-rate schedules ({@link io.moco4j.optim.LrSchedule}; built from a
 * {@link io.moco4j.optim.LrScheduleConfig}) matching official MoCo, MultiStepLR and CosineAnnealingLR.
 */
package io.moco4j.optim;
