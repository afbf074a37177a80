package io.moco4j.precision;

import ai.djl.Device;
import io.moco4j.util.UserException;
import java.util.Locale;

/**
 * The arithmetic precision of the encoders' forward passes ({@code --precision}, config {@code train.precision}).
 * {@link #FP32} is plain float32; {@link #BF16} and {@link #FP16} run the forward passes under libtorch's own
 * autocast ({@link Autocast}), which picks per op what runs in the low precision (convolutions, linear layers,
 * matrix products) and what stays float32; {@link #AUTO} is bf16 where the hardware computes it natively, else
 * fp32 ({@link #resolve}). Master weights, gradients, optimizer state, the queue and the loss stay float32 in
 * every precision (see {@code MomentumContrast}).
 */
public enum Precision {
    FP32("fp32"),
    BF16("bf16"),
    FP16("fp16"),
    AUTO("auto");

    /** The names {@link #parse} accepts, for messages and the CLI's help. */
    public static final String CHOICES = "fp32, bf16, fp16 or auto";

    private final String label;

    Precision(String label) {
        this.label = label;
    }

    /** {@code fp32}, {@code bf16}, {@code fp16} or {@code auto}: the name in configs, checkpoints and the CLI. */
    public String label() {
        return label;
    }

    @Override
    public String toString() {
        return label;
    }

    /** Whether forward passes run under autocast (bf16 or fp16; {@link #AUTO} must be resolved first). */
    public boolean mixed() {
        if (this == AUTO) {
            throw new IllegalStateException("resolve 'auto' to a device's precision first");
        }
        return this != FP32;
    }

    /** {@code fp32|bf16|fp16|auto} (case-insensitive; {@code float32}, {@code bfloat16}, {@code float16} too). */
    public static Precision parse(String spec) {
        String s = spec == null ? "" : spec.trim().toLowerCase(Locale.ROOT);
        return switch (s) {
            case "fp32", "float32", "32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            case "fp16", "float16", "half", "16" -> FP16;
            case "auto" -> AUTO;
            default -> throw new UserException("precision '" + spec + "' is not known; use " + CHOICES);
        };
    }

    /**
     * The concrete precision on {@code device}: {@link #AUTO} becomes {@link #BF16} where the hardware computes
     * bf16 natively (CPU flags avx512_bf16 or amx_bf16; a CUDA GPU of compute capability 8.0 or more), else
     * {@link #FP32}; any other value is returned as it is.
     */
    public Precision resolve(Device device) {
        if (this != AUTO) {
            return this;
        }
        return Hardware.nativeBf16(device) ? BF16 : FP32;
    }
}
