package io.moco4j.model;

/**
 * One named tensor of a network's state: its state_dict key, shape, how it is initialised and whether it
 * is a trainable parameter or a buffer. {@code scale} is the normal's standard deviation for
 * {@link Init#CONV_KAIMING_FAN_OUT} and {@link Init#NORMAL} and the uniform bound for
 * {@link Init#LINEAR_DEFAULT}, {@link Init#CONV_TORCH_DEFAULT} and {@link Init#UNIFORM} (unused otherwise).
 * The layout of a network is a list of these in state_dict order.
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
        COUNTER,
        /** {@code nn.init.uniform_(-scale, scale)} (vits.py's xavier-uniform and patch-conv bounds). */
        UNIFORM,
        /** {@code nn.init.normal_(std=scale)} (vits.py's cls token). */
        NORMAL,
        /** vits.py's fixed 2-D sin-cos position embedding of shape (1, 1 + g * g, D), g = patches per side. */
        SINCOS_2D
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
