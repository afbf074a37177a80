package io.moco4j.model;

/**
 * One named tensor of a network's state: its state_dict key, shape, how it is initialised and whether it
 * is a trainable parameter or a buffer. {@code scale} is the normal's standard deviation for
 * {@link Init#CONV_KAIMING_FAN_OUT} and the uniform bound for {@link Init#LINEAR_DEFAULT} and
 * {@link Init#CONV_TORCH_DEFAULT} (unused otherwise). The layout of a network is a list of these in state_dict order.
 */
record StateSlot(String key, long[] shape, Init init, double scale, boolean parameter) {

    /** Initialisation rules, each exactly as torchvision / torch.nn apply them. */
    enum Init {
        /** {@code kaiming_normal_(mode='fan_out', nonlinearity='relu')}: N(0, 2 / (out * kh * kw)). */
        CONV_KAIMING_FAN_OUT,
        /** torch.nn.Linear's default for weight and bias alike: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        LINEAR_DEFAULT,
        /** torch.nn.Conv2d's own default (kaiming_uniform_, a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        CONV_TORCH_DEFAULT,
        ONES,
        ZEROS,
        /** int64 scalar 0 ({@code num_batches_tracked}). */
        COUNTER
    }

    /** Number of elements. */
    long size() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
