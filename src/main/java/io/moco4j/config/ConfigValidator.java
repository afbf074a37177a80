package io.moco4j.config;

import io.moco4j.util.UserException;
import java.util.List;

/** Checks a configuration's values and their combinations before any work starts. */
final class ConfigValidator {
    private static final List<String> ARCHS = List.of("resnet18", "resnet34", "resnet50", "vit_small", "vit_base", "vit_tiny",
            "vit_cifar_tiny");
    private static final List<String> HEADS = List.of("linear", "mlp", "projector");
    private static final List<String> OPTIMIZERS = List.of("sgd", "lars", "adamw");
    private static final List<String> SCHEDULES = List.of("step", "cosine", "constant", "warmup_cosine");

    private ConfigValidator() {}

    static void validate(MocoConfig c) {
        MocoConfig.Model m = c.model();
        oneOf("model.arch", m.arch(), ARCHS);
        oneOf("model.head", m.head(), HEADS);
        positive("model.width", m.width());
        positive("model.dim", m.dim());
        atLeast("model.head_hidden", m.headHidden(), 0);
        positive("model.head_layers", m.headLayers());
        atLeast("model.predictor_hidden", m.predictorHidden(), 0);
        atLeast("model.patch_size", m.patchSize(), 0);
        atLeast("model.vit_width", m.vitWidth(), 0);
        atLeast("model.vit_depth", m.vitDepth(), 0);
        atLeast("model.vit_heads", m.vitHeads(), 0);

        MocoConfig.Moco mo = c.moco();
        if (mo.version() < 1 || mo.version() > 3) {
            throw new UserException("moco.version is " + mo.version() + "; choose 1, 2 (queue of negatives) or 3 (MoCo v3)");
        }
        if (mo.version() == 3) {
            validateV3(c);
        } else {
            validateQueueVersion(c);
        }
        if (mo.momentum() < 0 || mo.momentum() >= 1) {
            throw new UserException("moco.momentum is " + mo.momentum() + "; it must be in [0, 1), e.g. 0.999");
        }
        positive("moco.temperature", mo.temperature());
        positive("moco.bn_splits", mo.bnSplits());

        if (!c.train().timeBudget().isBlank()) {
            Durations.parseSeconds(c.train().timeBudget(), "train.time_budget");
        }

        MocoConfig.Optim o = c.optim();
        oneOf("optim.name", o.name(), OPTIMIZERS);
        positive("optim.lr", o.lr());
        atLeast("optim.momentum", o.momentum(), 0);
        atLeast("optim.weight_decay", o.weightDecay(), 0);
        oneOf("optim.schedule", o.schedule(), SCHEDULES);
        if (o.nesterov() && o.momentum() == 0) {
            throw new UserException("optim.nesterov needs optim.momentum > 0; set optim.momentum=0.9 or optim.nesterov=false");
        }
        atLeast("optim.warmup_epochs", o.warmupEpochs(), 0);
        if (o.warmupEpochs() >= c.train().epochs()) {
            throw new UserException("optim.warmup_epochs is " + o.warmupEpochs() + " but train.epochs is " + c.train().epochs()
                    + "; the warm-up must end before training does (set fewer warm-up epochs or more epochs)");
        }
        atLeast("optim.min_lr", o.minLr(), 0);
        for (int ms : o.milestones()) {
            if (ms <= 0) {
                throw new UserException("optim.milestones contains " + ms + "; milestones are epochs > 0, e.g. [120, 160]");
            }
        }

        MocoConfig.Train t = c.train();
        positive("train.epochs", t.epochs());
        positive("train.batch_size", t.batchSize());
        positive("train.image_size", t.imageSize());
        if (!(t.cropMin() >= 0 && t.cropMin() < 1)) {
            throw new UserException("train.crop_min is " + t.cropMin() + "; it must be in [0, 1): e.g. 0.2 (moco-v3 ResNet),"
                    + " 0.08 (ViT), or 0 to keep the recipe's own");
        }
        atLeast("train.workers", t.workers(), 0);
        positive("train.log_every", t.logEvery());
        atLeast("train.checkpoint_every", t.checkpointEvery(), 0);
        atLeast("train.knn_every", t.knnEvery(), 0);
        positive("train.knn_k", t.knnK());
        positive("train.knn_t", t.knnT());
        if (t.batchSize() % mo.bnSplits() != 0) {
            throw new UserException("train.batch_size " + t.batchSize() + " is not divisible by moco.bn_splits " + mo.bnSplits()
                    + "; pick bn_splits that divides the batch (e.g. 8 for 256)");
        }

        requireRecipe(t.augment());

        MocoConfig.Data d = c.data();
        positive("data.generated_train", d.generatedTrain());
        positive("data.generated_val", d.generatedVal());
    }

    /** v1/v2: a queue of whole batches of keys; the v3-only settings must stay off. */
    private static void validateQueueVersion(MocoConfig c) {
        MocoConfig.Moco mo = c.moco();
        MocoConfig.Train t = c.train();
        if (c.model().arch().startsWith("vit") && c.moco().version() != 3) {
            throw new UserException("model.arch is " + c.model().arch() + " but ViT backbones train with MoCo v3;"
                    + " set moco.version=3 (e.g. --preset moco-v3-vit-s or cpu-vit)");
        }
        if (c.model().predictorHidden() != 0) {
            throw new UserException("model.predictor_hidden is " + c.model().predictorHidden() + " but a predictor is MoCo v3's;"
                    + " set moco.version=3 (e.g. --preset moco-v3-r50) or model.predictor_hidden=0");
        }
        if (mo.queueSize() <= 0) {
            throw new UserException("moco.queue_size is " + mo.queueSize() + "; MoCo v" + mo.version()
                    + " needs a queue of negatives (e.g. 65536), or set moco.version=3 to train without one");
        }
        // The queue is overwritten one whole batch at a time (drop_last), as in the reference.
        if (mo.queueSize() % t.batchSize() != 0) {
            throw new UserException("moco.queue_size " + mo.queueSize() + " is not a multiple of train.batch_size "
                    + t.batchSize() + "; choose e.g. queue_size " + (mo.queueSize() / t.batchSize() + 1) * t.batchSize()
                    + " or a batch size that divides it");
        }
        int keysPerStep = c.keysPerStep();
        if (mo.queueSize() % keysPerStep != 0) {
            throw new UserException("moco.symmetric enqueues " + keysPerStep + " keys a step, which does not divide moco.queue_size "
                    + mo.queueSize() + "; double the queue or halve the batch");
        }
    }

    /** v3: in-batch negatives, a projector and a predictor; queue and Shuffle BN settings mean nothing here. */
    private static void validateV3(MocoConfig c) {
        MocoConfig.Moco mo = c.moco();
        String fix = "; MoCo v3 has no queue and no Shuffle BN (its loss is always symmetric), remove the setting or use moco.version=2";
        if (mo.queueSize() != 0) {
            throw new UserException("moco.queue_size is " + mo.queueSize() + " but MoCo v3 uses no queue (set it to 0)" + fix);
        }
        if (mo.bnSplits() != 1) {
            throw new UserException("moco.bn_splits is " + mo.bnSplits() + " but MoCo v3 normalises over the whole view batch"
                    + " (set it to 1)" + fix);
        }
        if (mo.shuffleBn()) {
            throw new UserException("moco.shuffle_bn is true but MoCo v3 does not shuffle keys (set it to false)" + fix);
        }
        if (mo.symmetric()) {
            throw new UserException("moco.symmetric is true but it configures the v1/v2 queue loss (set it to false)" + fix);
        }
        if (!c.model().head().equals("projector")) {
            throw new UserException("model.head is '" + c.model().head() + "' but MoCo v3 needs its projector head;"
                    + " set model.head=projector (or start from --preset moco-v3-r50)");
        }
        if (c.model().predictorHidden() <= 0) {
            throw new UserException("model.predictor_hidden is " + c.model().predictorHidden() + " but MoCo v3 needs a predictor;"
                    + " set it to the MLP width, e.g. 4096 (moco-v3's mlp_dim)");
        }
    }

    private static void oneOf(String key, String value, List<String> allowed) {
        if (!allowed.contains(value)) {
            throw new UserException(key + " is '" + value + "'; choose one of " + String.join(", ", allowed));
        }
    }

    private static void positive(String key, double value) {
        if (!(value > 0)) {
            throw new UserException(key + " is " + value + "; it must be greater than 0");
        }
    }

    private static void atLeast(String key, double value, double min) {
        if (!(value >= min)) {
            throw new UserException(key + " is " + value + "; it must be at least " + min);
        }
    }

    /** train.augment names a built-in recipe or a recipe file, so a typo stops here and names the setting. */
    private static void requireRecipe(String augment) {
        boolean file;
        try {
            file = augment.endsWith(".yaml") || augment.endsWith(".yml") || java.nio.file.Files.isRegularFile(java.nio.file.Path.of(augment));
        } catch (java.nio.file.InvalidPathException e) {
            file = false;
        }
        if (!io.moco4j.data.augment.Recipes.BUILT_IN.contains(augment) && !file) {
            throw new UserException("train.augment is '" + augment + "'; it must be one of "
                    + String.join(", ", io.moco4j.data.augment.Recipes.BUILT_IN) + " or the path of a recipe .yaml file");
        }
    }
}
