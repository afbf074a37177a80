package io.moco4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.style.Styler;

/**
 * Every legend label is drawn inside the chart (issue 18: the legend of docs/bench/cifar10-vit-knn-vs-seconds.png was
 * cut off at both sides). A label that does not fit crosses the image's edge, so the check is on pixels: the outer
 * frame of the rendered chart must stay background.
 */
class ChartsLegendTest {
    /** The five series of the ViT chart in BENCHMARKS.md (issue 10), with its labels. */
    private static final List<Curve> VIT_CHART = List.of(
            new Curve("MoCo4J (c10-vit)", new double[] {1419, 2589}, new double[] {36.46, 40.42}),
            new Curve("cpu-vit at the stop (kNN of last.ckpt)", new double[] {3199}, new double[] {41.34}),
            new Curve("cpu-small-v3 (v3 ResNet, MoCo4J)", new double[] {543, 1074}, new double[] {36.90, 39.68}),
            new Curve("cpu-small (v2 ResNet, MoCo4J, quiet machine)", new double[] {169, 322, 488, 651, 812, 973},
                    new double[] {38.34, 41.15, 43.07, 45.58, 46.52, 48.21}),
            new Curve("official v2 builder, here", new double[] {251, 498, 772, 1049}, new double[] {38.58, 41.47, 43.73, 45.43}));

    /** Pixels in the outer {@code border} columns and rows that are not the white background. */
    private static int inkOnTheFrame(BufferedImage img, int border) {
        int ink = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                boolean frame = x < border || y < border || x >= img.getWidth() - border || y >= img.getHeight() - border;
                if (frame && (img.getRGB(x, y) & 0xffffff) != 0xffffff) {
                    ink++;
                }
            }
        }
        return ink;
    }

    @Test
    void manyLongLabelsAllFitInsideTheChart() {
        XYChart chart = Charts.build("kNN top-1 accuracy", "training time (s)", "kNN top-1 (%)", VIT_CHART);
        assertEquals(0, inkOnTheFrame(BitmapEncoder.getBufferedImage(chart), 3), "a legend label crosses the chart's edge");
        assertTrue(chart.getHeight() > Charts.HEIGHT, "one label a row: the chart grows so the plot keeps its height");

        // The check sees the defect: the same labels on one row (the old layout) run over both edges.
        XYChart oneRow = Charts.build("kNN top-1 accuracy", "training time (s)", "kNN top-1 (%)", VIT_CHART);
        oneRow.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        assertTrue(inkOnTheFrame(BitmapEncoder.getBufferedImage(oneRow), 3) > 0, "one row of these labels is wider than the chart");
        assertTrue(Charts.legendRowWidth(oneRow.getStyler(), VIT_CHART.stream().map(Curve::name).toList()) > Charts.WIDTH);
    }

    @Test
    void aFewShortLabelsStayOnOneRowAtTheUsualSize() {
        List<Curve> two = List.of(new Curve("kNN top-1", new double[] {1, 2}, new double[] {3, 4}),
                new Curve("kNN top-5", new double[] {1, 2}, new double[] {5, 6}));
        XYChart chart = Charts.build("kNN", "epoch", "accuracy (%)", two);
        assertEquals(Styler.LegendLayout.Horizontal, chart.getStyler().getLegendLayout());
        assertEquals(Charts.HEIGHT, chart.getHeight());
        assertEquals(0, inkOnTheFrame(BitmapEncoder.getBufferedImage(chart), 3));
        assertFalse(Charts.legendRowWidth(chart.getStyler(), List.of("kNN top-1", "kNN top-5")) > Charts.WIDTH / 2);
    }
}
