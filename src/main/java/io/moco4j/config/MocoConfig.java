package io.moco4j.config;

import java.util.List;

/**
 * The complete, effective configuration of a pretraining run. Field names map to the snake_case keys of
 * the YAML presets ({@code src/main/resources/presets/defaults.yaml} documents each one).
 */
public record MocoConfig(Model model, Moco moco, Optim optim, Train train, Data data) {

    /** Keys the queue takes each step: the batch's, twice over with the symmetric loss. */
    public int keysPerStep() {
        return moco.symmetric() ? 2 * train.batchSize() : train.batchSize();
    }

    public record Model(String arch, boolean cifarStem, double width, boolean zeroInitResidual, String head,
                        int headHidden, int dim) {}

    public record Moco(int queueSize, double momentum, double temperature, boolean symmetric, boolean shuffleBn,
                       int bnSplits) {}

    public record Optim(double lr, boolean scaleLr, double momentum, double weightDecay, boolean nesterov,
                        String schedule, List<Integer> milestones, double gamma, boolean perStep,
                        int warmupEpochs, double minLr) {
        /** The base lr after optional linear scaling (lr x batch / 256, as in Goyal et al.). */
        public double effectiveLr(int batchSize) {
            return scaleLr ? lr * batchSize / 256.0 : lr;
        }
    }

    public record Train(int epochs, int batchSize, long seed, String augment, int imageSize, int workers,
                        int logEvery, int checkpointEvery, int knnEvery, int knnK, double knnT,
                        int knnTrainSubset, int knnValSubset) {}

    public record Data(String path, String val, int generatedTrain, int generatedVal, boolean unlabeled, boolean strict,
                       long maxPixels) {}
}
