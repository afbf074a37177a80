package io.moco4j.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.util.NoGrad;
import io.moco4j.util.Scalars;
import io.moco4j.util.UserException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Dynamic loss scaling for float16 training, as {@code torch.cuda.amp.GradScaler} does it (PyTorch 1.13-2.x): the loss
 * is multiplied by the scale before the backward pass so that small float16 gradients do not flush to zero; the
 * gradients are divided by it again before the optimizer step; a step whose gradients hold an inf or NaN (the scale
 * was too large: float16 overflowed) is skipped, the scale is multiplied by {@code backoffFactor} and the count of
 * clean steps starts again; after {@code growthInterval} clean steps in a row the scale is multiplied by
 * {@code growthFactor}. Defaults are GradScaler's: 2^16, x2 after 2000 steps, x0.5.
 *
 * <p>One step reads:
 *
 * <pre>
 *   backward(scaler.scale(loss));
 *   boolean finite = scaler.unscale(gradients);
 *   if (finite) optimizer.step(...);
 *   scaler.update(!finite);
 * </pre>
 *
 * <p>Arithmetic as GradScaler's kernels ({@code AmpKernels.cu}): the scale is held in float32; unscaling multiplies
 * every gradient element (inf and NaN included) by the float32 reciprocal of the scale, computed in double, which for
 * the usual power-of-two scales is exactly a division; growth that would overflow float32 to inf is not applied.
 * Data-parallel runs call {@link #unscale} on the averaged gradients, so every rank sees the same inf/NaN verdict
 * and keeps the same scale.
 *
 * <p>{@link #stateDict()} uses GradScaler's keys ({@code scale}, {@code growth_factor}, {@code backoff_factor},
 * {@code growth_interval}, {@code _growth_tracker}), so checkpoints exchange it with moco-v3's {@code main_moco.py}.
 */
public final class LossScaler {
    private float scale;
    private double growthFactor;
    private double backoffFactor;
    private int growthInterval;
    private int growthTracker;

    /** GradScaler's defaults: initial scale 2^16, growth x2 after 2000 clean steps, back-off x0.5. */
    public LossScaler() {
        this(65536.0, 2.0, 0.5, 2000);
    }

    public LossScaler(double initScale, double growthFactor, double backoffFactor, int growthInterval) {
        String problem = problem(initScale, growthFactor, backoffFactor, growthInterval);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        this.scale = (float) initScale;
        this.growthFactor = growthFactor;
        this.backoffFactor = backoffFactor;
        this.growthInterval = growthInterval;
    }

    /** What is wrong with these settings (GradScaler asserts growth > 1 and back-off < 1), or null. */
    private static String problem(double initScale, double growthFactor, double backoffFactor, double growthInterval) {
        if (!(initScale > 0) || Double.isInfinite(initScale)) {
            return "the loss scale must be finite and > 0, got " + initScale;
        }
        if (!(growthFactor > 1.0) || Double.isInfinite(growthFactor) || !(backoffFactor < 1.0) || !(backoffFactor > 0)
                || !(growthInterval >= 1) || growthInterval != Math.rint(growthInterval) || growthInterval > Integer.MAX_VALUE) {
            return "a loss scaler needs a growth factor > 1, a back-off factor in (0, 1) and a whole growth interval >= 1, got "
                    + growthFactor + ", " + backoffFactor + ", " + growthInterval;
        }
        return null;
    }

    /**
     * {@code loss * scale}, recorded for the backward pass. The constant is made by libtorch ({@link Scalars}), so the
     * graph does not keep a pointer into a Java buffer. The loss must be float32 (or float16/float64): under autocast
     * the loss is computed in float32, and a bf16 array (DataType.UNKNOWN in DJL) would abort the JVM here.
     */
    public NDArray scale(NDArray loss) {
        DataType t = loss.getDataType();
        if (t != DataType.FLOAT32 && t != DataType.FLOAT16 && t != DataType.FLOAT64) {
            throw new IllegalArgumentException("the loss to scale must be float32, float16 or float64, got " + t
                    + "; compute the loss outside autocast");
        }
        return Scalars.mul(loss, scale);
    }

    /**
     * Divides every gradient in place by the scale (GradScaler's {@code unscale_}) and says whether all of them are
     * finite. Every gradient is unscaled even when one is not finite, as torch does; the caller then skips the
     * optimizer step and calls {@code update(true)}. One host read for all gradients together, none per gradient.
     */
    public boolean unscale(Collection<NDArray> grads) {
        if (grads.isEmpty()) {
            return true;
        }
        float inverse = (float) (1.0 / (double) scale);
        NDManager owner = grads.iterator().next().getManager();
        try (NoGrad ignored = NoGrad.enter(); NDManager tmp = owner.newSubManager()) {
            NDList extremes = new NDList();
            for (NDArray g : grads) {
                if (g.getShape().size() == 0) {
                    continue;
                }
                // max propagates NaN and +inf, min -inf: two small reductions decide finiteness without a full-size temporary
                NDArray hi = g.max();
                NDArray lo = g.min();
                hi.attach(tmp);
                lo.attach(tmp);
                extremes.add(hi.reshape(1));
                extremes.add(lo.reshape(1));
                if (inverse != 1f) {
                    NDArray c = g.getManager().full(new Shape(), inverse, g.getDataType());
                    c.attach(tmp);
                    g.muli(c);
                }
            }
            if (extremes.isEmpty()) {
                return true;
            }
            NDArray all = extremes.size() == 1 ? extremes.head() : NDArrays.concat(extremes);
            all.attach(tmp);
            NDArray finite = all.isInfinite().logicalOr(all.isNaN()).any().logicalNot();
            finite.attach(tmp);
            return finite.getBoolean();
        }
    }

    /**
     * GradScaler's {@code update()} after a step: back off and restart the clean-step count when {@code foundInf},
     * else count the clean step and grow the scale after {@code growthInterval} of them in a row.
     */
    public void update(boolean foundInf) {
        if (foundInf) {
            scale = (float) (scale * backoffFactor);
            growthTracker = 0;
            return;
        }
        int successful = growthTracker + 1;
        if (successful == growthInterval) {
            float grown = (float) (scale * growthFactor);
            if (Float.isFinite(grown)) {
                scale = grown;
            }
            growthTracker = 0;
        } else {
            growthTracker = successful;
        }
    }

    /** The current scale (a float32 value, as GradScaler's {@code get_scale()}). */
    public double scale() {
        return scale;
    }

    /** GradScaler's {@code state_dict()}: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker. */
    public Map<String, Object> stateDict() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("scale", (double) scale);
        out.put("growth_factor", growthFactor);
        out.put("backoff_factor", backoffFactor);
        out.put("growth_interval", (long) growthInterval);
        out.put("_growth_tracker", (long) growthTracker);
        return out;
    }

    /**
     * GradScaler's {@code load_state_dict}: the scale, the clean-step count, and (they are part of the state) the
     * growth and back-off factors and the interval. An empty state (a disabled GradScaler's) is refused, as torch
     * refuses it; a damaged one leaves this scaler unchanged.
     */
    public void loadStateDict(Map<String, Object> state) {
        if (state == null || state.isEmpty()) {
            throw new UserException("the loss-scaler state is empty (saved by a GradScaler that was disabled); resume"
                    + " without it or train with --precision bf16 or fp32");
        }
        double newScale = number(state, "scale");
        double growth = number(state, "growth_factor");
        double backoff = number(state, "backoff_factor");
        double interval = number(state, "growth_interval");
        double tracker = number(state, "_growth_tracker");
        String problem = problem(newScale, growth, backoff, interval);
        if (problem == null && (tracker < 0 || tracker != Math.rint(tracker) || tracker >= interval)) {
            problem = "the growth tracker must be a whole number in [0, interval), got " + tracker;
        }
        if (problem != null) {
            throw new UserException("the loss-scaler state is invalid (" + problem + "); the checkpoint is damaged, resume"
                    + " without its scaler state");
        }
        scale = (float) newScale;
        growthFactor = growth;
        backoffFactor = backoff;
        growthInterval = (int) interval;
        growthTracker = (int) tracker;
    }

    private static double number(Map<String, ?> state, String key) {
        if (!(state.get(key) instanceof Number n) || !Double.isFinite(n.doubleValue())) {
            throw new UserException("the loss-scaler state has no finite number '" + key + "' (it holds " + state.keySet()
                    + "); the checkpoint is damaged, resume without its scaler state");
        }
        return n.doubleValue();
    }
}
