package io.moco4j.config;

import io.moco4j.util.UserException;
import java.util.List;

/** Checks a configuration's values and their combinations before any work starts. */
final class ConfigValidator {
    private static final List<String> ARCHS = List.of("resnet18", "resnet34", "resnet50");
    private static final List<String> HEADS = List.of("linear", "mlp");
    private static final List<String> SCHEDULES = List.of("step", "cosine", "constant");

    private ConfigValidator() {}

    static void validate(MocoConfig c) {
        MocoConfig.Model m = c.model();
        oneOf("model.arch", m.arch(), ARCHS);
        oneOf("model.head", m.head(), HEADS);
        positive("model.width", m.width());
        positive("model.dim", m.dim());
        atLeast("model.head_hidden", m.headHidden(), 0);

        MocoConfig.Moco mo = c.moco();
        positive("moco.queue_size", mo.queueSize());
        if (mo.momentum() < 0 || mo.momentum() >= 1) {
            throw new UserException("moco.momentum is " + mo.momentum() + "; it must be in [0, 1), e.g. 0.999");
        }
        positive("moco.temperature", mo.temperature());
        positive("moco.bn_splits", mo.bnSplits());

        MocoConfig.Optim o = c.optim();
        positive("optim.lr", o.lr());
        atLeast("optim.momentum", o.momentum(), 0);
        atLeast("optim.weight_decay", o.weightDecay(), 0);
        oneOf("optim.schedule", o.schedule(), SCHEDULES);
        if (o.nesterov() && o.momentum() == 0) {
            throw new UserException("optim.nesterov needs optim.momentum > 0; set optim.momentum=0.9 or optim.nesterov=false");
        }
        atLeast("optim.warmup_epochs", o.warmupEpochs(), 0);
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
        atLeast("train.workers", t.workers(), 0);
        positive("train.log_every", t.logEvery());
        atLeast("train.checkpoint_every", t.checkpointEvery(), 0);
        atLeast("train.knn_every", t.knnEvery(), 0);
        positive("train.knn_k", t.knnK());
        positive("train.knn_t", t.knnT());
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
        if (t.batchSize() % mo.bnSplits() != 0) {
            throw new UserException("train.batch_size " + t.batchSize() + " is not divisible by moco.bn_splits " + mo.bnSplits()
                    + "; pick bn_splits that divides the batch (e.g. 8 for 256)");
        }

        MocoConfig.Data d = c.data();
        positive("data.generated_train", d.generatedTrain());
        positive("data.generated_val", d.generatedVal());
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
}
