package io.moco4j.io;

import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes {@code torch.save}'s zip format so that {@code torch.load(path, weights_only=True)} (torch
 * 1.13 and later) opens the file: {@code archive/data.pkl} (protocol 2), one uncompressed, 64-byte
 * aligned {@code archive/data/<key>} entry per tensor, {@code archive/byteorder} ("little") and
 * {@code archive/version} ("3").
 *
 * <p>The tree may hold {@link HostTensor}, {@code Map} (String or integer keys), {@code List},
 * {@code String}, {@code Long}/{@code Integer}, {@code Boolean}, {@code null} and {@code Double}
 * (torch 1.13's weights-only loader cannot read floats; newer torch can). A map whose values are all
 * tensors is written as {@code collections.OrderedDict}, like a module's {@code state_dict()}.
 */
public final class TorchCheckpointWriter {
    static final String ARCHIVE = "archive";

    private TorchCheckpointWriter() {}

    /** Writes the tree atomically (temporary file, then rename). */
    public static void write(Path file, Object tree) {
        List<HostTensor> storages = new ArrayList<>();
        byte[] pickle = new PickleWriter(t -> {
            storages.add(t);
            return Integer.toString(storages.size() - 1);
        }).dump(markStateDicts(tree));
        writeAtomically(file, out -> {
            try (AlignedZipWriter zip = new AlignedZipWriter(out)) {
                zip.add(ARCHIVE + "/data.pkl", ByteBuffer.wrap(pickle));
                zip.add(ARCHIVE + "/byteorder", ByteBuffer.wrap("little".getBytes(StandardCharsets.US_ASCII)));
                for (int i = 0; i < storages.size(); i++) {
                    zip.add(ARCHIVE + "/data/" + i, storages.get(i).data());
                }
                zip.add(ARCHIVE + "/version", ByteBuffer.wrap("3\n".getBytes(StandardCharsets.US_ASCII)));
            }
        });
    }

    /** {@link AtomicFiles#write} with I/O failures reported as one-line user errors. */
    static void writeAtomically(Path file, AtomicFiles.Writer body) {
        try {
            AtomicFiles.write(file, body);
        } catch (IOException e) {
            throw new UserException("cannot write " + file + " (" + e + "); check the directory and free space", e);
        }
    }

    private static Object markStateDicts(Object o) {
        if (o instanceof Map<?, ?> m) {
            boolean allTensors = !m.isEmpty() && m.values().stream().allMatch(v -> v instanceof HostTensor);
            Map<Object, Object> copy = new LinkedHashMap<>();
            m.forEach((k, v) -> copy.put(k, markStateDicts(v)));
            return allTensors ? new PickleWriter.OrderedDictValue(copy) : copy;
        }
        if (o instanceof List<?> l) {
            List<Object> copy = new ArrayList<>(l.size());
            l.forEach(x -> copy.add(markStateDicts(x)));
            return copy;
        }
        return o;
    }
}
