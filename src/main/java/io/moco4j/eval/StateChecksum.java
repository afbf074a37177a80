package io.moco4j.eval;

import ai.djl.ndarray.NDArray;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * CRC-32 of every tensor's bytes, to prove that frozen weights and BatchNorm statistics are bit-for-bit
 * unchanged (the official linear-classification {@code sanity_check}, without keeping a second copy).
 */
public final class StateChecksum {
    private final Map<String, Long> crcs;

    private StateChecksum(Map<String, Long> crcs) {
        this.crcs = crcs;
    }

    public static StateChecksum of(Map<String, NDArray> state) {
        Map<String, Long> crcs = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : state.entrySet()) {
            CRC32 crc = new CRC32();
            ByteBuffer bytes = e.getValue().toByteBuffer();
            crc.update(bytes);
            crcs.put(e.getKey(), crc.getValue() ^ ((long) e.getValue().getShape().hashCode() << 32));
        }
        return new StateChecksum(crcs);
    }

    /** Throws naming the first changed, added or missing tensor if {@code now} differs from this checksum. */
    public void verifyUnchanged(StateChecksum now, String when) {
        for (Map.Entry<String, Long> e : crcs.entrySet()) {
            Long other = now.crcs.get(e.getKey());
            if (other == null) {
                throw new IllegalStateException("frozen tensor " + e.getKey() + " disappeared " + when);
            }
            if (!other.equals(e.getValue())) {
                throw new IllegalStateException("frozen backbone tensor " + e.getKey() + " changed " + when
                        + "; the linear probe must not modify the pretrained model (BatchNorm must run in eval mode)");
            }
        }
        if (!now.crcs.keySet().equals(crcs.keySet())) {
            throw new IllegalStateException("frozen state gained tensors " + when + ": " + now.crcs.keySet());
        }
    }

    /** The tensors' names, in the state's order (as {@link #values()}). */
    public java.util.List<String> names() {
        return java.util.List.copyOf(crcs.keySet());
    }

    /** One checksum per tensor, in the state's order; equal states give equal arrays (compared across ranks). */
    public long[] values() {
        return crcs.values().stream().mapToLong(Long::longValue).toArray();
    }

    public int size() {
        return crcs.size();
    }
}
