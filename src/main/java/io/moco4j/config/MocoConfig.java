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

    /** The MoCo version: 1 and 2 train with a queue ({@code MocoV1V2}), 3 with in-batch negatives ({@code MocoV3}). */
    public int version() {
        return moco.version();
    }

    /** Whether the method keeps a queue of keys as negatives (v1, v2); v3 contrasts within the batch. */
    public boolean hasQueue() {
        return moco.version() < 3;
    }

    /**
     * @param head {@code linear} / {@code mlp} (v1/v2 heads) or {@code projector} (moco-v3's MLP with BatchNorm)
     * @param headLayers layers of the projector (2 for ResNet, 3 for ViT in moco-v3)
     * @param predictorHidden hidden width of the v3 predictor; 0 = no predictor (v1/v2)
     * @param patchSize ViT patch size (ViT archs only)
     * @param stopGradConv1 ViT: keep the random patch projection frozen (moco-v3's {@code --stop-grad-conv1})
     * @param vitWidth ViT width D, {@code vitDepth} blocks and {@code vitHeads} attention heads; 0 keeps the named size's
     */
    public record Model(String arch, boolean cifarStem, double width, boolean zeroInitResidual, String head,
                        int headHidden, int headLayers, int dim, int predictorHidden, int patchSize,
                        boolean stopGradConv1, int vitWidth, int vitDepth, int vitHeads) {}

    /**
     * @param momentumCosine raise the momentum from {@code momentum} to 1 along a half-cosine per step (moco-v3's
     *     {@code --moco-m-cos})
     */
    public record Moco(int version, int queueSize, double momentum, boolean momentumCosine, double temperature,
                       boolean symmetric, boolean shuffleBn, int bnSplits) {}

    /** @param name {@code sgd} (v1/v2), {@code lars} (v3 ResNet) or {@code adamw} (v3 ViT) */
    public record Optim(String name, double lr, boolean scaleLr, double momentum, double weightDecay, boolean nesterov,
                        String schedule, List<Integer> milestones, double gamma, boolean perStep,
                        int warmupEpochs, double minLr) {
        /** The base lr after optional linear scaling (lr x batch / 256, as in Goyal et al.). */
        public double effectiveLr(int batchSize) {
            return scaleLr ? lr * batchSize / 256.0 : lr;
        }
    }

    /**
     * @param cropMin lower bound of every random-resized-crop scale of the recipe; 0 keeps the recipe's own
     * @param timeBudget wall-clock budget of the run ({@link Durations}), empty for none
     * @param onlineProbe train a linear probe beside MoCo when the data has labels and a validation set
     * @param probeLr the online probe's base SGD rate
     * @param precision the forward passes' precision, {@code fp32|bf16|fp16|auto} ({@code io.moco4j.precision.Precision})
     * @param allowRankChange let {@code --resume} continue a MoCo v1/v2 run on another number of ranks (same global
     *     batch, data order and queue, but not bit-identical: per-rank BatchNorm and Shuffle BN change)
     */
    public record Train(int epochs, int batchSize, long seed, String augment, double cropMin, int imageSize, int workers,
                        int logEvery, int checkpointEvery, int knnEvery, int knnK, double knnT,
                        int knnTrainSubset, int knnValSubset, String timeBudget, boolean onlineProbe, double probeLr,
                        String precision, boolean allowRankChange) {}

    public record Data(String path, String val, int generatedTrain, int generatedVal, boolean unlabeled, boolean strict,
                       long maxPixels) {}
}
