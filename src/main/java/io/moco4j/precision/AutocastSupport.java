package io.moco4j.precision;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import io.moco4j.util.UserException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks once per device and precision, before training or evaluating, that libtorch's autocast really computes
 * in that precision there: a tiny convolution and matrix product under autocast must come out in the low dtype.
 * libtorch's C++ autocast accepts any dtype without complaint; an unsupported one fails later, inside a step, or
 * silently runs in float32. Here it is one line naming the fix instead.
 */
public final class AutocastSupport {
    private static final Map<String, Boolean> CHECKED = new ConcurrentHashMap<>();

    private AutocastSupport() {}

    /**
     * Returns {@code precision} resolved on {@code device} ({@code auto} to bf16 or fp32) after checking that
     * autocast supports it there; throws a {@link UserException} naming the fix otherwise.
     */
    public static Precision require(Device device, Precision precision) {
        Precision p = precision.resolve(device);
        if (!p.mixed()) {
            return p;
        }
        String key = device + "/" + p;
        if (CHECKED.containsKey(key)) {
            return p;
        }
        String problem;
        try {
            problem = probe(device, p);
        } catch (UserException e) {
            throw e;
        } catch (RuntimeException e) {
            problem = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
        }
        if (problem != null) {
            throw new UserException("--precision " + p + " is not supported by libtorch's autocast on " + device
                    + " (" + problem + "); use --precision " + (p == Precision.FP16 ? "bf16 or fp32" : "fp32"));
        }
        CHECKED.put(key, true);
        return p;
    }

    /** Null when conv2d and matMul under autocast return {@code precision}'s dtype, else what came out. */
    private static String probe(Device device, Precision precision) {
        try (NDManager m = NDManager.newBaseManager(device);
             Autocast ignored = Autocast.enter(device, precision)) {
            NDArray x = m.ones(new Shape(1, 2, 4, 4));
            NDArray w = m.ones(new Shape(2, 2, 3, 3));
            NDArray conv = Conv2d.conv2d(x, w, null, new Shape(1, 1), new Shape(1, 1), new Shape(1, 1), 1).singletonOrThrow();
            NDArray mm = m.ones(new Shape(2, 3)).matMul(m.ones(new Shape(3, 2)));
            if (!isDtype(conv, precision) || !isDtype(mm, precision)) {
                return "a convolution came out as " + name(conv) + " and a matrix product as " + name(mm);
            }
            float v = Float32.of(mm).getFloat(0, 0);
            if (v != 3f) {
                return "1x3 ones times 3x1 ones gave " + v;
            }
            return null;
        }
    }

    private static boolean isDtype(NDArray y, Precision precision) {
        // DJL names float16; bf16 reads as UNKNOWN (DJL 0.36 does not map libtorch's BFloat16)
        return precision == Precision.FP16 ? y.getDataType() == DataType.FLOAT16
                : y.getDataType() == DataType.UNKNOWN || y.getDataType() == DataType.BFLOAT16;
    }

    private static String name(NDArray y) {
        return y.getDataType() == DataType.UNKNOWN ? "bfloat16 (DJL: UNKNOWN)" : y.getDataType().toString().toLowerCase(java.util.Locale.ROOT);
    }
}
