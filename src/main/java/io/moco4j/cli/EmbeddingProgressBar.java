package io.moco4j.cli;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The terminal bar of a folder being embedded (`index`, `serve`): made on the first update, when the number of
 * images to embed is known, so a folder whose embeddings are all cached prints no bar at all.
 */
final class EmbeddingProgressBar implements AutoCloseable {
    private ProgressBar bar;

    void update(int done, int total) {
        if (bar == null) {
            bar = new ProgressBarBuilder().setTaskName("embedding").setInitialMax(total)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build();
        }
        bar.stepTo(done);
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
