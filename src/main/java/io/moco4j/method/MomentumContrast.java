package io.moco4j.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import io.moco4j.dist.Collectives;
import io.moco4j.dist.GradientAverager;
import io.moco4j.dist.SingleProcess;
import io.moco4j.dist.StateBroadcast;
import io.moco4j.model.Encoder;
import io.moco4j.model.Network;
import io.moco4j.model.Networks;
import io.moco4j.optim.LossScaler;
import io.moco4j.optim.Optimizer;
import io.moco4j.precision.Autocast;
import io.moco4j.precision.Float32;
import io.moco4j.precision.Precision;
import io.moco4j.util.Gradients;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * What every MoCo version shares: a query encoder f_q trained by the optimizer and a key (momentum) encoder
 * f_k that starts as its exact copy and follows it by {@code theta_k = m * theta_k + (1 - m) * theta_q} over
 * parameters only (BatchNorm running statistics stay each encoder's own). The versions differ in how one
 * step turns two views into a loss: {@link MocoV1V2} (v1/v2: a queue of negatives, Shuffle BN) and
 * {@link MocoV3} (in-batch negatives, a predictor, symmetric loss). Each version's {@link #step} reads in the
 * paper's order: momentum update ({@link #updateKeyEncoder}), keys, loss and its {@link #backward}, queue.
 *
 * <p>Checkpoints are shared too: {@link #networks()} names every network by its checkpoint prefix and
 * {@link #extraState()} adds what else a version keeps (the queue).
 */
public abstract class MomentumContrast implements AutoCloseable {
    /** Checkpoint prefixes of the two encoders. */
    public static final String QUERY = "encoder_q.";
    public static final String KEY = "encoder_k.";

    protected final Encoder encoderQ;
    protected final Encoder encoderK;
    protected final double temperature;
    /** The ranks of a data-parallel run ({@link #distribute}); one process by default. */
    protected Collectives collectives = SingleProcess.INSTANCE;
    private GradientAverager gradients = new GradientAverager(SingleProcess.INSTANCE);
    /** The precision of the encoders' forward passes (resolved: never auto); float32 unless {@link #setPrecision}. */
    private Precision precision = Precision.FP32;
    /** fp16's dynamic loss scaling (GradScaler); null in fp32 and bf16, whose exponent range needs none. */
    private LossScaler scaler;
    private boolean lastStepSkipped;

    /** Loss and contrastive top-1/top-5 accuracy (percent) of one step. */
    public record StepResult(float loss, float acc1, float acc5) {}

    protected MomentumContrast(Encoder encoderQ, Encoder encoderK, double temperature) {
        this.encoderQ = encoderQ;
        this.encoderK = encoderK;
        this.temperature = temperature;
        Map<String, NDArray> trainable = encoderQ.trainableParameters();
        for (Map.Entry<String, NDArray> e : encoderQ.parameters().entrySet()) {
            boolean requires = trainable.containsKey(e.getKey());
            if (e.getValue().hasGradient() != requires) {
                e.getValue().setRequiresGradient(requires);
            }
        }
        // The key encoder is never trained by gradients; without requiresGradient no graph is built for it.
        Networks.setRequiresGradient(encoderK, false);
    }

    /**
     * One optimisation step: zeroes the gradients (DJL accumulates them), runs {@link #step} (which ends in
     * {@link #backward}) and applies the optimizer at {@code lr} unless the loss is not finite (the caller then
     * stops the run).
     */
    public StepResult train(NDArray view1, NDArray view2, long step, Optimizer optimizer, double lr, double m) {
        LinkedHashMap<String, NDArray> trainable = trainableParameters();
        Gradients.zero(trainable.values());
        lastStepSkipped = false;
        StepResult r = agreed(step(view1, view2, step, m));
        if (Float.isFinite(r.loss())) {
            gradients.averageOf(trainable); // before the optimizer, so every rank applies the same update
            if (scaler == null) {
                optimizer.step(trainable, lr);
            } else {
                // main_moco.py's scaler.step(optimizer); scaler.update(): unscale the averaged (float32) gradients, skip
                // only the optimizer step when one holds an inf/NaN. The momentum update of this step already happened
                // inside step(), before the keys, as in the official forward, so it is not undone on a skipped step.
                boolean finite = unscaleGradients(trainable);
                if (finite) {
                    optimizer.step(trainable, lr);
                }
                scaler.update(!finite);
                lastStepSkipped = !finite;
            }
        }
        if (collectives.size() > 1) {
            // Like DistributedDataParallel's broadcast_buffers the ranks leave the step with the same BatchNorm running
            // statistics (checkpoints, checksum checks), but as the mean over ranks rather than rank 0's: with split BN
            // that is exactly the statistics one process updates from all groups of the global batch.
            StateBroadcast.meanOverRanks(collectives, encoderQ.buffers());
            StateBroadcast.meanOverRanks(collectives, encoderK.buffers());
        }
        return r;
    }

    /**
     * One step on two views of the same images (N x 3 x H x W, in the step's manager) with key-encoder
     * momentum {@code m}: gradients of the loss are left on {@link #trainableParameters()}; temporaries attach
     * to the views' manager, which the caller closes after the optimizer step.
     *
     * @param step the global step, which seeds anything random in the step (Shuffle BN), so resumed runs repeat it
     */
    public abstract StepResult step(NDArray view1, NDArray view2, long step, double m);

    /**
     * The momentum update, {@code theta_k = m theta_k + (1 - m) theta_q} (the official
     * {@code _momentum_update_key_encoder}); every version calls it before computing this step's keys.
     */
    protected void updateKeyEncoder(double m) {
        Networks.momentumUpdate(encoderK, encoderQ, m);
    }

    /**
     * Where the loss's gradient starts, for every version on one rank (v3 on several ranks goes through its SyncBN
     * backward instead): the gradients land on {@link #trainableParameters()}, {@link #train} then applies them.
     */
    protected void backward(GradientCollector gc, NDArray loss) {
        gc.backward(lossForBackward(loss));
    }

    /**
     * {@code forward} (a pass through the networks) under autocast in this model's precision, on this thread, and
     * its result back in float32 inside the graph ({@link Float32#of}); autocast is off again afterwards, also when
     * the forward throws. In fp32 it is just {@code forward}.
     */
    protected NDArray forward(Supplier<NDArray> forward) {
        return forwardTogether(forward)[0];
    }

    /**
     * As {@link #forward}, for several passes through the same networks under ONE autocast scope, as
     * {@code torch.autocast} around the official v3 forward runs {@code q1} and {@code q2}: while a scope is open,
     * libtorch casts each trainable float32 weight to the low dtype once and reuses the cast (its autocast cache), so
     * the backward also converts each weight's gradient back to float32 once (the two passes' low-precision gradients
     * are summed first, as in PyTorch). With a scope per pass every weight was cast, and its gradient converted back
     * (a strided copy for the transposed linear weights), once per pass: 7% of a bf16 cifar10-v3 step (BENCHMARKS.md,
     * issue 21, where the v3 bf16 step lost time). Results in order, each float32.
     */
    @SafeVarargs
    protected final NDArray[] forwardTogether(Supplier<NDArray>... passes) {
        NDArray[] y = new NDArray[passes.length];
        try (Autocast ignored = Autocast.enter(manager().getDevice(), precision)) {
            for (int i = 0; i < passes.length; i++) {
                y[i] = passes[i].get();
            }
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = Float32.of(y[i]);
        }
        return y;
    }

    /**
     * Data-parallel training over {@code ranks}: each rank passes its own share of every global batch to
     * {@link #train}, gradients are averaged over ranks before the optimizer step, and the reported loss and
     * accuracy are the means over ranks (so every rank takes the same decision on a non-finite loss). Versions
     * add what their step needs (the v1/v2 cross-process Shuffle BN and key gather). Call before training.
     */
    public void distribute(Collectives ranks) {
        this.collectives = ranks;
        this.gradients = new GradientAverager(ranks);
    }

    public Collectives collectives() {
        return collectives;
    }

    /** The step's loss and accuracies averaged over ranks (one small all-reduce). */
    private StepResult agreed(StepResult local) {
        if (collectives.size() == 1) {
            return local;
        }
        float[] v = {local.loss(), local.acc1(), local.acc5()};
        collectives.allReduceMean(v);
        return new StepResult(v[0], v[1], v[2]);
    }

    /**
     * Runs the encoders' forward passes of every following step in {@code precision} ({@code auto} resolved on
     * this model's device) under libtorch's autocast. What stays float32 whatever the precision: the master
     * weights and their gradients (autocast casts float32 weights for each op; the cast's backward hands float32
     * gradients to the weights), the optimizer and its state, the momentum update, the queue and the keys that
     * enter it, BatchNorm running statistics (float32 buffers updated in place), and everything after the
     * networks: {@link #forward} returns float32, so normalisation, the contrastive logits and the loss are
     * computed in float32 (the logits' choice and its measurement: BENCHMARKS.md, issue 21).
     */
    public void setPrecision(Precision precision) {
        this.precision = precision.resolve(manager().getDevice());
        if (this.precision == Precision.FP16) {
            scaler = scaler == null ? new LossScaler() : scaler;
        } else {
            scaler = null;
        }
    }

    /**
     * fp16's loss scaler (GradScaler's defaults unless {@link #setLossScaler}), or null in fp32 and bf16. Its state
     * goes into checkpoints; a resumed fp16 run loads it back.
     */
    public LossScaler lossScaler() {
        return scaler;
    }

    /** Replaces the fp16 loss scaler (e.g. other GradScaler settings); only in fp16, call after {@link #setPrecision}. */
    public void setLossScaler(LossScaler scaler) {
        if (precision != Precision.FP16) {
            throw new IllegalStateException("a loss scaler is for fp16 runs; this one runs in " + precision);
        }
        this.scaler = java.util.Objects.requireNonNull(scaler);
    }

    /** Divides every trainable gradient by the loss scale in place; whether all of them are finite. */
    private boolean unscaleGradients(Map<String, NDArray> trainable) {
        java.util.List<NDArray> grads = new java.util.ArrayList<>();
        try {
            for (NDArray p : trainable.values()) {
                if (p.hasGradient()) {
                    grads.add(p.getGradient()); // a handle on the gradient itself: unscaled in place
                }
            }
            return scaler.unscale(grads);
        } finally {
            grads.forEach(NDArray::close);
        }
    }

    /** Whether the last {@link #train} skipped the optimizer step (fp16: an inf/NaN gradient at the current scale). */
    public boolean lastStepSkipped() {
        return lastStepSkipped;
    }

    /**
     * What the versions' {@link #step} hands to the backward pass: the loss itself, or in fp16 the loss times the
     * loss scale ({@code scaler.scale(loss).backward()}), so that small float16 gradients do not flush to zero.
     * The gradients are divided by the scale again in {@link #train}, after they are averaged over ranks.
     */
    protected NDArray lossForBackward(NDArray loss) {
        return scaler == null ? loss : scaler.scale(loss);
    }

    /** The precision of the forward passes (fp32, bf16 or fp16). */
    public Precision precision() {
        return precision;
    }

    /**
     * Everything the optimizer trains, named uniquely across networks: the query encoder's parameters by their
     * own keys, other networks' (the v3 predictor) under their checkpoint prefix. Optimizer state is keyed so.
     */
    public LinkedHashMap<String, NDArray> trainableParameters() {
        return encoderQ.trainableParameters();
    }

    /** Every network of the model by checkpoint prefix, query encoder first. */
    public LinkedHashMap<String, Network> networks() {
        LinkedHashMap<String, Network> n = new LinkedHashMap<>();
        n.put(QUERY, encoderQ);
        n.put(KEY, encoderK);
        return n;
    }

    /** Tensors besides the networks' state that a checkpoint must hold to continue exactly (none by default). */
    public Map<String, NDArray> extraState() {
        return Map.of();
    }

    /** Integer counters a checkpoint's metadata must hold (e.g. the queue pointer). */
    public Map<String, Long> counters() {
        return Map.of();
    }

    /** The MoCo version this method implements (1 and 2 share {@link MocoV1V2}). */
    public abstract int version();

    public Encoder encoderQ() {
        return encoderQ;
    }

    public Encoder encoderK() {
        return encoderK;
    }

    public double temperature() {
        return temperature;
    }

    public NDManager manager() {
        return encoderQ.manager();
    }

    @Override
    public void close() {
        encoderK.close();
        encoderQ.close();
    }
}
