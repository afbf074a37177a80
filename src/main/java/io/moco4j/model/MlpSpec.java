package io.moco4j.model;

import io.moco4j.util.UserException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * moco-v3's {@code MoCo._build_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn)}: {@code layers} bias-free
 * Linear layers, {@code inDim -> hiddenDim -> ... -> outDim}; BatchNorm1d (affine) and ReLU after every layer but
 * the last; the last followed by a BatchNorm1d without affine when {@code lastBn}. moco-v3 with ResNet uses
 * {@code (2, 2048, 4096, 256, true)} for the projector and {@code (2, 256, 4096, 256, false)} for the predictor; with
 * ViT a 3-layer projector and a predictor with the last BN.
 *
 * <p>State-dict keys are {@code nn.Sequential}'s: the module index, counting the ReLUs ({@code 0.weight},
 * {@code 1.weight}, {@code 1.bias}, {@code 1.running_mean}, ..., {@code 3.weight}, {@code 4.running_mean}, ...).
 *
 * @param hiddenDim width of every hidden layer; unused (may be 0) when {@code layers} is 1
 */
public record MlpSpec(int inDim, int hiddenDim, int outDim, int layers, boolean lastBn) {

    public MlpSpec {
        if (layers < 1) {
            throw new UserException("an MLP needs at least one layer, got " + layers);
        }
        if (inDim < 1 || outDim < 1) {
            throw new UserException("MLP input and output dimensions must be >= 1, got " + inDim + " and " + outDim);
        }
        if (layers > 1 && hiddenDim < 1) {
            throw new UserException("MLP hidden dimension must be >= 1 for " + layers + " layers, got " + hiddenDim);
        }
    }

    /** moco-v3 ResNet projector: 2 layers {@code featureDim -> mlpDim -> dim} with the last BN. */
    public static MlpSpec resnetProjector(int featureDim, int mlpDim, int dim) {
        return new MlpSpec(featureDim, mlpDim, dim, 2, true);
    }

    /** moco-v3 ResNet predictor: 2 layers {@code dim -> mlpDim -> dim} without the last BN. */
    public static MlpSpec resnetPredictor(int dim, int mlpDim) {
        return new MlpSpec(dim, mlpDim, dim, 2, false);
    }

    /** Every state_dict key with its shape, in nn.Sequential's order, computed without allocating tensors. */
    public LinkedHashMap<String, long[]> stateShapes() {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        for (StateSlot s : layout()) {
            out.put(s.key(), s.shape());
        }
        return out;
    }

    /** Number of trainable scalars. */
    public long parameterCount() {
        long n = 0;
        for (StateSlot s : layout()) {
            if (s.parameter()) {
                n += s.size();
            }
        }
        return n;
    }

    /** Module index of each Linear layer in the Sequential. */
    int[] linearIndices() {
        int[] idx = new int[layers];
        int module = 0;
        for (int l = 0; l < layers; l++) {
            idx[l] = module;
            module += l < layers - 1 ? 3 : 1; // Linear, BN, ReLU for hidden layers; the last Linear alone
        }
        return idx;
    }

    /**
     * The state in nn.Sequential's order, each with torch's default init (the MLPs are built after torchvision's
     * init, so they keep it): Linear weight U(+-1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)), BN weight 1,
     * bias 0, running mean 0, var 1.
     */
    List<StateSlot> layout() {
        List<StateSlot> slots = new ArrayList<>();
        int[] linear = linearIndices();
        for (int l = 0; l < layers; l++) {
            int in = l == 0 ? inDim : hiddenDim;
            int out = l == layers - 1 ? outDim : hiddenDim;
            slots.add(new StateSlot(linear[l] + ".weight", new long[] {out, in}, StateSlot.Init.LINEAR_DEFAULT,
                    1.0 / Math.sqrt(in), true));
            if (l < layers - 1) {
                bn(slots, (linear[l] + 1) + ".", out, true);
            } else if (lastBn) {
                bn(slots, (linear[l] + 1) + ".", out, false);
            }
        }
        return slots;
    }

    private static void bn(List<StateSlot> slots, String p, int c, boolean affine) {
        long[] shape = {c};
        if (affine) {
            slots.add(new StateSlot(p + "weight", shape, StateSlot.Init.ONES, 0, true));
            slots.add(new StateSlot(p + "bias", shape, StateSlot.Init.ZEROS, 0, true));
        }
        slots.add(new StateSlot(p + "running_mean", shape, StateSlot.Init.ZEROS, 0, false));
        slots.add(new StateSlot(p + "running_var", shape, StateSlot.Init.ONES, 0, false));
        slots.add(new StateSlot(p + "num_batches_tracked", new long[0], StateSlot.Init.COUNTER, 0, false));
    }
}
