package io.moco4j.config;

import io.moco4j.util.UserException;

/** Checks a configuration's values and their combinations before any work starts. */
final class ConfigValidator {
    private ConfigValidator() {}

    static void validate(MocoConfig c) {
        // Single values (types, ranges, choices) are checked on the tree by the table in SettingRanges;
        // what remains here are the combinations.
        MocoConfig.Moco mo = c.moco();
        MocoConfig.Optim o = c.optim();
        MocoConfig.Train t = c.train();
        if (o.nesterov() && o.momentum() == 0) {
            throw new UserException("optim.nesterov needs optim.momentum > 0; set optim.momentum=0.9 or optim.nesterov=false");
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
        requireRecipe(t.augment());
        if (t.batchSize() % mo.bnSplits() != 0) {
            throw new UserException("train.batch_size " + t.batchSize() + " is not divisible by moco.bn_splits " + mo.bnSplits()
                    + "; pick bn_splits that divides the batch (e.g. 8 for 256)");
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
