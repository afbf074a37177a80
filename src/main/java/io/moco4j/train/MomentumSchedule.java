package io.moco4j.train;

/** TEMPORARY placeholder until the v3core branch lands. */
public interface MomentumSchedule {
    double at(int epoch, int stepInEpoch, int stepsPerEpoch);

    static MomentumSchedule constant(double m) {
        return (e, s, n) -> m;
    }

    static MomentumSchedule cosine(double m0, int epochs) {
        return (e, s, n) -> 1 - 0.5 * (1 + Math.cos(Math.PI * (e + (double) s / n) / epochs)) * (1 - m0);
    }
}
