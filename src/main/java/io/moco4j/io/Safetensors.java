package io.moco4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor
 * name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the data
 * section) plus an optional {@code "__metadata__"} string map, then the tensor bytes.
 *
 * <p>Reading validates what the reference implementation validates: the header size, every dtype and
 * shape, that each tensor's byte range matches its shape, and that the ranges tile the data section
 * with no gap or overlap.
 */
public final class Safetensors {
    /** Like the reference implementation: headers over 100 MB are refused. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final String METADATA = "__metadata__";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A decoded file: tensors in header order and the free-form string metadata. */
    public record Contents(LinkedHashMap<String, HostTensor> tensors, Map<String, String> metadata) {}

    private Safetensors() {}

    public static Contents read(Path file) {
        String name = file.toString();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            if (fileSize < 8) {
                throw new UserException(name + ": too short for a safetensors file (" + fileSize + " bytes)");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0, name);
            long headerLen = len.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > fileSize - 8) {
                throw new UserException(name + ": safetensors header length " + headerLen + " is invalid for a file of "
                        + fileSize + " bytes; the file is truncated or not safetensors");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLen);
            readFully(ch, headerBytes, 8, name);
            JsonNode header;
            try {
                header = JSON.readTree(new String(headerBytes.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UserException(name + ": safetensors header is not valid JSON; the file is corrupt", e);
            }
            if (header == null || !header.isObject()) {
                throw new UserException(name + ": safetensors header is not a JSON object; the file is corrupt");
            }
            long dataStart = 8 + headerLen;
            long dataSize = fileSize - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Object[]> ranges = new ArrayList<>();
            LinkedHashMap<String, long[]> offsets = new LinkedHashMap<>();
            LinkedHashMap<String, DType> dtypes = new LinkedHashMap<>();
            LinkedHashMap<String, long[]> shapes = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals(METADATA)) {
                    e.getValue().fields().forEachRemaining(m -> {
                        if (!m.getValue().isTextual()) {
                            throw new UserException(name + ": safetensors metadata value for '" + m.getKey() + "' is not a string");
                        }
                        metadata.put(m.getKey(), m.getValue().asText());
                    });
                    continue;
                }
                JsonNode info = e.getValue();
                String tensor = e.getKey();
                if (!info.path("dtype").isTextual() || !info.path("shape").isArray() || !info.path("data_offsets").isArray()
                        || info.path("data_offsets").size() != 2) {
                    throw new UserException(name + ": safetensors entry '" + tensor + "' lacks dtype, shape or data_offsets");
                }
                DType dtype = DType.ofSafetensors(info.get("dtype").asText(), name);
                long[] shape = new long[info.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    JsonNode d = info.get("shape").get(i);
                    if (!d.canConvertToLong() || d.asLong() < 0) {
                        throw new UserException(name + ": safetensors entry '" + tensor + "' has an invalid shape " + info.get("shape"));
                    }
                    shape[i] = d.asLong();
                }
                long begin = info.get("data_offsets").get(0).asLong(-1);
                long end = info.get("data_offsets").get(1).asLong(-1);
                long expected;
                try {
                    expected = Math.multiplyExact(HostTensor.numel(shape), dtype.byteSize());
                } catch (ArithmeticException ex) {
                    expected = -1;
                }
                if (begin < 0 || end < begin || end - begin != expected) {
                    throw new UserException(name + ": safetensors entry '" + tensor + "' has data_offsets [" + begin + ", " + end
                            + "] that do not match its shape " + info.get("shape") + " and dtype " + dtype.safetensorsName());
                }
                if (end > dataSize) {
                    throw new UserException(name + ": safetensors entry '" + tensor + "' ends at byte " + end + " but the data section has "
                            + dataSize + " bytes; the file is truncated");
                }
                dtypes.put(tensor, dtype);
                shapes.put(tensor, shape);
                offsets.put(tensor, new long[] {begin, end});
                ranges.add(new Object[] {tensor, begin, end});
            }
            checkTiling(ranges, dataSize, name);
            LinkedHashMap<String, HostTensor> tensors = new LinkedHashMap<>();
            for (String tensor : offsets.keySet()) {
                long[] r = offsets.get(tensor);
                long n = r[1] - r[0];
                if (n > Integer.MAX_VALUE - 8) {
                    throw new UserException(name + ": tensor '" + tensor + "' is over 2 GiB, which MoCo4J cannot hold in one buffer");
                }
                ByteBuffer b = ByteBuffer.allocate((int) n);
                readFully(ch, b, dataStart + r[0], name);
                tensors.put(tensor, new HostTensor(dtypes.get(tensor), shapes.get(tensor), b.flip()));
            }
            return new Contents(tensors, Collections.unmodifiableMap(metadata));
        } catch (NoSuchFileException e) {
            throw new UserException(name + ": no such file; check the path");
        } catch (IOException e) {
            throw new UserException(name + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /** Writes tensors (in map order, contiguous, header padded to 8 bytes) and string metadata, atomically. */
    public static void write(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata) {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject(METADATA);
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
            if (e.getKey().equals(METADATA)) {
                throw new IllegalArgumentException("a tensor cannot be named " + METADATA);
            }
            HostTensor t = e.getValue();
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = info.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            long size = t.numel() * t.dtype().byteSize();
            info.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        java.util.Arrays.fill(headerBytes, (byte) ' ');
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        TorchCheckpointWriter.writeAtomically(file, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(headerBytes);
            for (HostTensor t : tensors.values()) {
                ByteBuffer d = t.data();
                byte[] chunk = new byte[Math.min(d.remaining(), 1 << 16)];
                while (d.hasRemaining()) {
                    int n = Math.min(chunk.length, d.remaining());
                    d.get(chunk, 0, n);
                    out.write(chunk, 0, n);
                }
            }
        });
    }

    private static void checkTiling(List<Object[]> ranges, long dataSize, String name) {
        ranges.sort(Comparator.comparingLong((Object[] r) -> (long) r[1]).thenComparingLong(r -> (long) r[2]));
        long expected = 0;
        for (Object[] r : ranges) {
            if ((long) r[1] != expected) {
                throw new UserException(name + ": safetensors entry '" + r[0] + "' starts at byte " + r[1] + " but the previous tensor ends at "
                        + expected + " (gap or overlap); the file is corrupt");
            }
            expected = (long) r[2];
        }
        if (expected != dataSize) {
            throw new UserException(name + ": safetensors tensors cover " + expected + " of the " + dataSize
                    + " data bytes; the file is corrupt");
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long position, String name) throws IOException {
        long p = position;
        while (b.hasRemaining()) {
            int n = ch.read(b, p);
            if (n < 0) {
                throw new UserException(name + ": file ends early; it is truncated");
            }
            p += n;
        }
    }
}
