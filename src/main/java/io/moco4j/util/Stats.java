package io.moco4j.util;

import java.util.Arrays;

/** Summary statistics shared by the benchmarks and the training report. */
public final class Stats {
    private Stats() {}

    /** The median of {@code values}, the mean of the two middle ones for an even count; {@code values} is left as is. */
    public static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
