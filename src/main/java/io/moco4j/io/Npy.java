package io.moco4j.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads and writes NumPy {@code .npy} files (format 1.0/2.0/3.0, C order, little endian).
 *
 * <p>Used for embeddings handed to Python users and for the golden reference files made by the
 * PyTorch scripts under {@code tools/golden}. Supported dtypes: float32, float64, int64, int32,
 * uint8 and bool; everything is exposed through {@link NpyArray}.
 */
public final class Npy {
    /** Real headers are a few hundred bytes; numpy itself refuses more than 10,000 by default. */
    static final int MAX_HEADER_BYTES = 1 << 20;
    /** One array's data must fit one Java byte array. */
    static final long MAX_DATA_BYTES = Integer.MAX_VALUE - 8;
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /** A decoded array: its numpy dtype string ("<f4", "<i8", "|u1", ...), shape and raw bytes. */
    public record NpyArray(String dtype, long[] shape, ByteBuffer data) {
        public long size() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** The values as float32, converting from any numeric dtype. */
        public float[] toFloatArray() {
            int n = Math.toIntExact(size());
            float[] out = new float[n];
            ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case "<f4" -> b.asFloatBuffer().get(out);
                case "<f8" -> { for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(i * 8); }
                case "<i8" -> { for (int i = 0; i < n; i++) out[i] = b.getLong(i * 8); }
                case "<i4" -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
                case "|u1", "|b1" -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
                default -> throw new IllegalStateException("unsupported npy dtype " + dtype);
            }
            return out;
        }

        /** The values as int64, converting from any integer dtype. */
        public long[] toLongArray() {
            int n = Math.toIntExact(size());
            long[] out = new long[n];
            ByteBuffer b = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case "<i8" -> b.asLongBuffer().get(out);
                case "<i4" -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
                case "|u1", "|b1" -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
                default -> throw new IllegalStateException("npy dtype " + dtype + " is not an integer type");
            }
            return out;
        }
    }

    public static NpyArray read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString());
        }
    }

    /** An array's dtype and shape, as read from a {@code .npy} header. */
    public record Header(String dtype, long[] shape) {
        public long size() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    public static NpyArray read(InputStream in, String name) throws IOException {
        return read(in, name, MAX_DATA_BYTES);
    }

    /**
     * Reads only the header, leaving {@code in} at the first data byte (C order, little-endian as written),
     * so large arrays can be streamed.
     */
    public static Header readHeader(InputStream in, String name) throws IOException {
        byte[] magic = in.readNBytes(6);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new IOException(name + " is not a .npy file (bad magic); write it with numpy.save");
        }
        int major = in.read();
        in.read(); // minor version
        int headerLen;
        if (major == 1) {
            byte[] l = in.readNBytes(2);
            headerLen = (l[0] & 0xff) | (l[1] & 0xff) << 8;
        } else if (major == 2 || major == 3) {
            byte[] l = in.readNBytes(4);
            headerLen = ByteBuffer.wrap(l).order(ByteOrder.LITTLE_ENDIAN).getInt();
        } else {
            throw new IOException(name + ": unsupported .npy version " + major);
        }
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            throw new IOException(name + ": .npy header length " + headerLen + " is not plausible (damaged file)");
        }
        String header = new String(in.readNBytes(headerLen), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        String dtype = group(DESCR, header, name);
        if (group(ORDER, header, name).equals("True")) {
            throw new IOException(name + ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
        }
        String[] dims = group(SHAPE, header, name).split(",");
        long[] shape;
        try {
            shape = Arrays.stream(dims).map(String::trim).filter(s -> !s.isEmpty()).mapToLong(Long::parseLong).toArray();
        } catch (NumberFormatException e) {
            throw new IOException(name + ": malformed .npy shape " + group(SHAPE, header, name));
        }
        return new Header(dtype, shape);
    }

    /** {@link #read(InputStream, String)} refusing, before allocating, arrays that declare more than {@code maxBytes}. */
    public static NpyArray read(InputStream in, String name, long maxBytes) throws IOException {
        Header h = readHeader(in, name);
        String dtype = h.dtype();
        long[] shape = h.shape();
        int itemSize = itemSize(dtype, name);
        // Declared sizes are checked before anything is allocated: one Java array holds at most ~2 GiB.
        long n = 1;
        for (long d : shape) {
            if (d < 0 || (d > 0 && n > MAX_DATA_BYTES / d)) {
                throw new IOException(name + ": .npy shape " + Arrays.toString(shape) + " is negative or larger than "
                        + MAX_DATA_BYTES + " bytes (damaged or hostile file)");
            }
            n *= d;
        }
        if (n * itemSize > Math.min(maxBytes, MAX_DATA_BYTES)) {
            throw new IOException(name + ": .npy array declares " + n * itemSize + " bytes, more than the "
                    + Math.min(maxBytes, MAX_DATA_BYTES) + " it can hold (damaged or hostile file)");
        }
        byte[] body = in.readNBytes((int) (n * itemSize));
        if (body.length != n * itemSize) {
            throw new IOException(name + " is truncated: expected " + n * itemSize + " data bytes, found " + body.length);
        }
        return new NpyArray(dtype, shape, ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN));
    }

    public static void writeFloat32(Path file, float[] values, long... shape) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        write(file, "<f4", shape, b.array());
    }

    public static void writeInt64(Path file, long[] values, long... shape) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        write(file, "<i8", shape, b.array());
    }

    /** Writes raw little-endian data with a version 1.0 header. */
    public static void write(Path file, String dtype, long[] shape, byte[] data) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            write(out, dtype, shape, data);
        }
    }

    public static void write(OutputStream out, String dtype, long[] shape, byte[] data) throws IOException {
        out.write(header(dtype, shape));
        out.write(data);
    }

    /** The magic, version and padded header dict; the data follows it directly. */
    public static byte[] header(String dtype, long[] shape) {
        StringBuilder s = new StringBuilder("{'descr': '").append(dtype).append("', 'fortran_order': False, 'shape': (");
        for (long d : shape) {
            s.append(d).append(", ");
        }
        if (shape.length > 1) {
            s.setLength(s.length() - 2);
        } else if (shape.length == 1) {
            s.setLength(s.length() - 1);
        }
        s.append("), }");
        // The header is padded with spaces and a newline so the data starts on a 64-byte boundary.
        int unpadded = MAGIC.length + 2 + 2 + s.length() + 1;
        int pad = (64 - unpadded % 64) % 64;
        s.append(" ".repeat(pad)).append('\n');
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(MAGIC);
        b.write(1);
        b.write(0);
        b.write(s.length() & 0xff);
        b.write(s.length() >> 8 & 0xff);
        b.writeBytes(s.toString().getBytes(StandardCharsets.ISO_8859_1));
        return b.toByteArray();
    }

    private static int itemSize(String dtype, String name) throws IOException {
        return switch (dtype) {
            case "<f4", "<i4" -> 4;
            case "<f8", "<i8" -> 8;
            case "|u1", "|b1" -> 1;
            default -> throw new IOException(name + ": unsupported npy dtype " + dtype);
        };
    }

    private static String group(Pattern p, String header, String name) throws IOException {
        Matcher m = p.matcher(header);
        if (!m.find()) {
            throw new IOException(name + ": malformed .npy header: " + header.trim());
        }
        return m.group(1);
    }
}
