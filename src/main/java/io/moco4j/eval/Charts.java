package io.moco4j.eval;

import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** Line charts written as PNG with XChart (headless). */
public final class Charts {
    public static final int WIDTH = 900;
    public static final int HEIGHT = 500;
    /** Long series are averaged into at most this many points so charts stay readable and small. */
    static final int MAX_POINTS = 1500;

    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private Charts() {}

    /** Draws the curves on one chart and writes it to {@code png}; curves without points are skipped. */
    public static void write(Path png, String title, String xTitle, String yTitle, List<Curve> curves) {
        XYChart chart = build(title, xTitle, yTitle, curves);
        try {
            BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write chart " + png + ": " + e.getMessage(), e);
        }
    }

    /** The chart {@link #write} draws. */
    static XYChart build(String title, String xTitle, String yTitle, List<Curve> curves) {
        List<String> names = new ArrayList<>();
        for (Curve c : curves) {
            if (finite(c).x().length > 0) {
                names.add(c.name());
            }
        }
        // Legend below the plot so it never hides the ends of the curves: on one row when the labels fit the width,
        // else one label a row, with the chart taller by those rows so the plot keeps its size. XChart centres a
        // horizontal legend and does not wrap it, so a row wider than the chart lost both ends of it.
        XYChart probe = new XYChartBuilder().width(WIDTH).height(HEIGHT).build();
        boolean oneRow = legendRowWidth(probe.getStyler(), names) <= WIDTH - 2 * EDGE;
        int height = oneRow || names.size() < 2 ? HEIGHT : HEIGHT + (names.size() - 1) * legendRowHeight(probe.getStyler());
        XYChart chart = new XYChartBuilder().width(WIDTH).height(height).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(oneRow ? Styler.LegendLayout.Horizontal : Styler.LegendLayout.Vertical);
        chart.getStyler().setXAxisDecimalPattern("#.##");
        chart.getStyler().setXAxisTickMarkSpacingHint(90);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        chart.getStyler().setPlotGridLinesVisible(true);
        chart.getStyler().setAntiAlias(true);
        chart.getStyler().setLegendVisible(curves.size() > 1);
        for (Curve c : curves) {
            Curve d = downsample(finite(c));
            if (d.x().length == 0) {
                continue;
            }
            XYSeries s = chart.addSeries(uniqueName(chart, c.name()), d.x(), d.y());
            s.setMarker(d.x().length <= 60 ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        }
        if (chart.getSeriesMap().isEmpty()) {
            throw new IllegalArgumentException("chart '" + title + "' has no points to draw");
        }
        return chart;
    }

    /** Pixels kept free at each side of the chart. */
    static final int EDGE = 10;
    /** XChart's legend sample (line and marker) is a box of this width in front of each label. */
    private static final int LEGEND_SAMPLE = 20;

    /** Width of a one-row legend of {@code names}: per entry the sample, the text and the legend padding around them. */
    static int legendRowWidth(Styler styler, List<String> names) {
        FontMetrics fm = metrics(styler);
        int pad = styler.getLegendPadding();
        int width = pad;
        for (String n : names) {
            width += LEGEND_SAMPLE + pad + fm.stringWidth(n) + pad;
        }
        return width;
    }

    private static int legendRowHeight(Styler styler) {
        return Math.max(LEGEND_SAMPLE, metrics(styler).getHeight()) + styler.getLegendPadding();
    }

    private static FontMetrics metrics(Styler styler) {
        Graphics2D g = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            return g.getFontMetrics(styler.getLegendFont());
        } finally {
            g.dispose();
        }
    }

    private static String uniqueName(XYChart chart, String name) {
        String n = name;
        for (int i = 2; chart.getSeriesMap().containsKey(n); i++) {
            n = name + " (" + i + ")";
        }
        return n;
    }

    /** Drops points whose x or y is not a finite number (missing fields in the log). */
    static Curve finite(Curve c) {
        List<double[]> keep = new ArrayList<>();
        for (int i = 0; i < c.x().length; i++) {
            if (Double.isFinite(c.x()[i]) && Double.isFinite(c.y()[i])) {
                keep.add(new double[] {c.x()[i], c.y()[i]});
            }
        }
        return new Curve(c.name(), keep.stream().mapToDouble(p -> p[0]).toArray(), keep.stream().mapToDouble(p -> p[1]).toArray());
    }

    /** Averages consecutive points in equal-count bins when there are more than {@link #MAX_POINTS}. */
    static Curve downsample(Curve c) {
        int n = c.x().length;
        if (n <= MAX_POINTS) {
            return c;
        }
        double[] x = new double[MAX_POINTS];
        double[] y = new double[MAX_POINTS];
        for (int b = 0; b < MAX_POINTS; b++) {
            int from = (int) ((long) b * n / MAX_POINTS);
            int to = (int) ((long) (b + 1) * n / MAX_POINTS);
            double sx = 0;
            double sy = 0;
            for (int i = from; i < to; i++) {
                sx += c.x()[i];
                sy += c.y()[i];
            }
            x[b] = sx / (to - from);
            y[b] = sy / (to - from);
        }
        return new Curve(c.name(), x, y);
    }
}
