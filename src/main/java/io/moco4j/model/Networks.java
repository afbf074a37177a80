package io.moco4j.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.util.Gradients;
import io.moco4j.util.NoGrad;
import java.util.Iterator;
import java.util.Map;

/**
 * Whole-network operations over the named state of {@link Network}s.
 *
 * <p>About gradients with DJL's PyTorch engine: {@code PtGradientCollector} does NOT zero gradients when it
 * is created (that call is disabled upstream for speed) and libtorch accumulates into {@code .grad} on every
 * backward, so gradients add up across steps until someone zeroes them; use {@link #zeroGradients(Network)}
 * each step. {@code GradientCollector.zeroGradients()} walks every array of the system manager and is slow.
 * Only one {@code PtGradientCollector} may be open at a time in the whole JVM. {@code NDArray.getGradient()}
 * creates a new NDArray attached to the PARAMETER's manager on every call: close it or use
 * {@link #gradient(NDArray, NDManager)} so a step's gradients don't pile up in the network's manager.
 */
public final class Networks {
    private Networks() {}

    /** Exact value copy of every parameter and buffer of {@code src} into {@code dst} (same keys and shapes). */
    public static void copy(Network src, Network dst) {
        Map<String, NDArray> from = src.stateDict();
        Map<String, NDArray> to = dst.stateDict();
        if (!from.keySet().equals(to.keySet())) {
            throw new IllegalArgumentException("networks have different state keys; copy needs identical architectures");
        }
        try (NoGrad ignored = NoGrad.enter()) {
            for (Map.Entry<String, NDArray> e : to.entrySet()) {
                Tensors.copyInto(e.getValue(), from.get(e.getKey()));
            }
        }
    }

    /**
     * MoCo's key-encoder update {@code theta_k = m * theta_k + (1 - m) * theta_q} over parameters only
     * (BatchNorm running statistics of the key encoder are its own), in place, without recording autograd.
     */
    public static void momentumUpdate(Network key, Network query, double m) {
        if (!(m >= 0 && m <= 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1], got " + m);
        }
        Map<String, NDArray> k = key.parameters();
        Map<String, NDArray> q = query.parameters();
        if (!k.keySet().equals(q.keySet())) {
            throw new IllegalArgumentException("key and query networks have different parameters");
        }
        if (k.isEmpty()) {
            return;
        }
        // m and 1 - m as the 0-dim float64 arrays DJL's muli(m) / mul(1 - m) would make, made once for all parameters
        // instead of twice per parameter (same ops, same values; BENCHMARKS.md, issue 21, the ViT step's time
        // outside libtorch); a parameter on another device takes DJL's path
        NDArray firstKey = k.values().iterator().next();
        try (NoGrad ignored = NoGrad.enter(); NDManager constants = firstKey.getManager().newSubManager()) {
            NDArray keep = constants.create(m);
            NDArray take = constants.create(1.0 - m);
            Iterator<Map.Entry<String, NDArray>> it = k.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<String, NDArray> e = it.next();
                NDArray pk = e.getValue();
                NDArray pq = q.get(e.getKey());
                boolean shared = pk.getDevice().equals(constants.getDevice()) && pq.getDevice().equals(constants.getDevice());
                if (shared) {
                    pk.muli(keep);
                } else {
                    pk.muli(m);
                }
                // the product is attached to the query network's manager: close it at once
                try (NDArray scaled = shared ? pq.mul(take) : pq.mul(1.0 - m)) {
                    pk.addi(scaled);
                }
            }
        }
    }

    /** Turns gradient recording for every parameter on or off (buffers never get gradients). */
    public static void setRequiresGradient(Network net, boolean requires) {
        for (NDArray p : net.parameters().values()) {
            if (p.hasGradient() != requires) {
                p.setRequiresGradient(requires);
            }
        }
    }

    /** Sets the accumulated gradient of every parameter to zero, in place (no new arrays). */
    public static void zeroGradients(Network net) {
        Gradients.zero(net.parameters().values());
    }

    /**
     * The gradient of {@code param} as an array attached to {@code into} (e.g. the step manager), so it is
     * freed with the step instead of accumulating in the network's manager. It shares storage with the
     * parameter's {@code .grad}.
     */
    public static NDArray gradient(NDArray param, NDManager into) {
        NDArray g = param.getGradient();
        g.attach(into);
        return g;
    }

    /** Number of trainable scalars. */
    public static long parameterCount(Network net) {
        long n = 0;
        for (NDArray p : net.parameters().values()) {
            n += p.size();
        }
        return n;
    }
}
