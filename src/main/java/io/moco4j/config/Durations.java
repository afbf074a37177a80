package io.moco4j.config;

import io.moco4j.util.UserException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Wall-clock durations as users write them: {@code 90s}, {@code 30m}, {@code 1h}, {@code 1h30m}, {@code 1.5h}. */
public final class Durations {
    private static final Pattern WHOLE = Pattern.compile("(\\d+(?:\\.\\d+)?[hms])+");
    private static final Pattern PART = Pattern.compile("(\\d+(?:\\.\\d+)?)([hms])");

    private Durations() {}

    /** Seconds in {@code text}; a {@link UserException} naming {@code setting} when it is not a duration. */
    public static double parseSeconds(String text, String setting) {
        String t = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        if (!WHOLE.matcher(t).matches()) {
            throw new UserException(setting + " is '" + text + "', which is not a duration; write e.g. 90s, 30m, 1h or 1h30m");
        }
        double seconds = 0;
        Matcher m = PART.matcher(t);
        while (m.find()) {
            double v = Double.parseDouble(m.group(1));
            seconds += switch (m.group(2)) {
                case "h" -> v * 3600;
                case "m" -> v * 60;
                default -> v;
            };
        }
        if (!(seconds >= 1) || seconds > 366 * 24 * 3600.0) {
            throw new UserException(setting + " is '" + text + "'; give a duration between 1s and a year, e.g. 30m");
        }
        return seconds;
    }

    /** {@code 1200} as "20m", {@code 90} as "1m30s": for one-line messages. */
    public static String format(double seconds) {
        long s = Math.round(seconds);
        long h = s / 3600;
        long m = (s % 3600) / 60;
        long r = s % 60;
        StringBuilder b = new StringBuilder();
        if (h > 0) b.append(h).append('h');
        if (m > 0) b.append(m).append('m');
        if (r > 0 || b.length() == 0) b.append(r).append('s');
        return b.toString();
    }
}
