package io.moco4j.testutil;

import java.util.Locale;

/**
 * How docs/TOLERANCES.md was measured: with the environment variable {@code MOCO4J_TOLERANCE_REPORT} set, every
 * golden comparison that goes through {@link FlatState#assertClose} (and the model tests' own) prints its worst
 * deviation beside its bound, so one run at {@code -Dtest.threads=1} and one at {@code =2} give the spread of each.
 */
public final class ToleranceReport {
    private static final boolean ON = System.getenv("MOCO4J_TOLERANCE_REPORT") != null;

    private ToleranceReport() {}

    /** Prints {@code what}, its worst deviation (relative to its scale) and the bound, when reporting is on. */
    public static void print(String what, double worst, double bound) {
        if (ON) {
            System.out.printf(Locale.ROOT, "TOLERANCE threads=%s %s worst=%.3g bound=%.3g%n",
                    System.getProperty("ai.djl.pytorch.num_threads", "?"), what, worst, bound);
        }
    }

    /** Prints max |a - e| / max(1, max |e|) of two equally long arrays, when reporting is on. */
    public static void print(String what, float[] e, float[] a, double bound) {
        if (ON) {
            double scale = 1;
            double worst = 0;
            for (int i = 0; i < Math.min(e.length, a.length); i++) {
                scale = Math.max(scale, Math.abs(e[i]));
                worst = Math.max(worst, Math.abs((double) a[i] - e[i]));
            }
            print(what, worst / scale, bound);
        }
    }
}
