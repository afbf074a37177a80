package io.moco4j.data.augment;

import java.util.List;

/** One view of a recipe: its steps, the square output size in pixels and the final normalisation. */
public record ViewSpec(int size, List<OpSpec> ops, Normalization normalization) {
    public ViewSpec {
        if (size <= 0) {
            throw new IllegalArgumentException("view size must be positive, got " + size);
        }
        ops = List.copyOf(ops);
    }
}
