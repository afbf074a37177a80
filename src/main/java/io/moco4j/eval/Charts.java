package io.moco4j.eval;

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
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        // Legend below the plot so it never hides the ends of the curves.
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
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
        try {
            BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write chart " + png + ": " + e.getMessage(), e);
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
