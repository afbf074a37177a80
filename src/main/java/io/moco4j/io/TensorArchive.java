package io.moco4j.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.util.UserException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Our checkpoint container: an uncompressed zip of {@code <name>.npy} tensors plus a {@code meta.json}
 * entry. {@code numpy.load(path)} opens it as an {@code .npz}, so checkpoints stay inspectable without
 * MoCo4J. Writes are atomic (see {@link AtomicFiles}).
 */
public final class TensorArchive {
    public static final String META = "meta.json";
    /** The metadata is a few KB (settings and counters); anything near this limit is not ours. */
    static final int MAX_META_BYTES = 16 << 20;

    private TensorArchive() {}

    /** Tensor contents read back: name to array, in archive order, plus the metadata JSON text. */
    public record Contents(String metaJson, Map<String, NpyArray> tensors) {
        public NpyArray tensor(String name) {
            NpyArray a = tensors.get(name);
            if (a == null) {
                throw new UserException("checkpoint has no tensor '" + name + "'; it was not written by this version of MoCo4J");
            }
            return a;
        }
    }

    public static void write(Path file, String metaJson, Map<String, NDArray> tensors) throws IOException {
        AtomicFiles.write(file, out -> writeTo(out, metaJson, tensors));
    }

    private static void writeTo(OutputStream raw, String metaJson, Map<String, NDArray> tensors) throws IOException {
        ZipOutputStream zip = new ZipOutputStream(raw);
        zip.setMethod(ZipOutputStream.STORED); // tensors hardly compress; storing keeps saving fast
        putEntry(zip, META, metaJson.getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
            putEntry(zip, e.getKey() + ".npy", toNpyBytes(e.getValue()));
        }
        zip.finish();
    }

    /**
     * As {@link #write}, from host tensors read out of another file: each tensor is written straight from its
     * bytes (float32 and int64 as they are, other types as float32), so converting a large checkpoint holds no
     * second full copy of it, only one tensor's entry at a time.
     */
    public static void writeHost(Path file, String metaJson, Map<String, HostTensor> tensors) throws IOException {
        AtomicFiles.write(file, out -> {
            ZipOutputStream zip = new ZipOutputStream(out);
            zip.setMethod(ZipOutputStream.STORED);
            putEntry(zip, META, metaJson.getBytes(StandardCharsets.UTF_8));
            for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
                putEntry(zip, e.getKey() + ".npy", toNpyBytes(e.getValue()));
            }
            zip.finish();
        });
    }

    static byte[] toNpyBytes(HostTensor t) {
        String dtype;
        byte[] data;
        if (t.dtype() == DType.INT64) {
            dtype = "<i8";
            data = t.toByteArray();
        } else if (t.dtype() == DType.FLOAT32) {
            dtype = "<f4";
            data = t.toByteArray();
        } else {
            float[] v = t.toFloatArray();
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v);
            data = b.array();
            dtype = "<f4";
        }
        byte[] header = Npy.header(dtype, t.shape());
        byte[] all = new byte[header.length + data.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(data, 0, all, header.length, data.length);
        return all;
    }

    public static Contents read(Path file) {
        return read(file, false);
    }

    /** Only the metadata: stops after {@code meta.json}, the first entry, without reading any tensor. */
    public static Contents readMeta(Path file) {
        return read(file, true);
    }

    private static Contents read(Path file, boolean metaOnly) {
        if (!Files.isRegularFile(file)) {
            throw new UserException("checkpoint " + file + " does not exist; pass the path of a .ckpt file (e.g. runs/NAME/checkpoints/last.ckpt)");
        }
        String meta = null;
        Map<String, NpyArray> tensors = new LinkedHashMap<>();
        try (ZipInputStream zip = new ZipInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 20))) {
            // We write entries STORED, so an intact file holds at least as many bytes as its tensors: more
            // tensor data than the file size means a compressed bomb or damaged headers, refused before reading.
            long budget = Files.size(file);
            for (ZipEntry e; (e = zip.getNextEntry()) != null; ) {
                if (e.getName().equals(META)) {
                    byte[] m = zip.readNBytes(MAX_META_BYTES + 1);
                    if (m.length > MAX_META_BYTES) {
                        throw new ZipException(META + " is larger than " + MAX_META_BYTES + " bytes");
                    }
                    meta = new String(m, StandardCharsets.UTF_8);
                    if (metaOnly) {
                        break;
                    }
                } else if (e.getName().endsWith(".npy")) {
                    String name = e.getName().substring(0, e.getName().length() - 4);
                    NpyArray a = Npy.read(zip, file + ":" + e.getName(), budget);
                    budget -= a.data().capacity();
                    if (budget < 0) {
                        throw new ZipException("its tensors hold more bytes than the file itself");
                    }
                    tensors.put(name, a);
                }
            }
        } catch (IllegalArgumentException | ArithmeticException | IndexOutOfBoundsException e) {
            // e.g. a zip entry name that is not valid UTF-8, or sizes that do not add up
            throw new UserException("checkpoint " + file + " is damaged or not a MoCo4J checkpoint (" + e.getMessage()
                    + "); use another checkpoint, e.g. a periodic one in the same folder");
        } catch (NoSuchFileException e) {
            throw new UserException("checkpoint " + file + " does not exist");
        } catch (ZipException | java.io.EOFException e) {
            throw new UserException("checkpoint " + file + " is damaged or not a MoCo4J checkpoint (" + e.getMessage()
                    + "); use another checkpoint, e.g. a periodic one in the same folder");
        } catch (IOException e) {
            throw new UserException("cannot read checkpoint " + file + ": " + e.getMessage());
        }
        if (meta == null) {
            throw new UserException("checkpoint " + file + " has no " + META + "; it is damaged or not a MoCo4J checkpoint");
        }
        return new Contents(meta, tensors);
    }

    /** Converts an npy array to a float32 or int64 NDArray in {@code manager}. */
    public static NDArray toNDArray(NpyArray a, NDManager manager) {
        Shape shape = new Shape(a.shape());
        if (a.dtype().equals("<i8")) {
            return manager.create(a.toLongArray(), shape);
        }
        return manager.create(a.toFloatArray(), shape);
    }

    static byte[] toNpyBytes(NDArray array) {
        DataType type = array.getDataType();
        byte[] data;
        String dtype;
        if (type == DataType.INT64) {
            long[] v = array.toLongArray();
            ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            b.asLongBuffer().put(v);
            data = b.array();
            dtype = "<i8";
        } else {
            float[] v = type == DataType.FLOAT32 ? array.toFloatArray() : array.toType(DataType.FLOAT32, false).toFloatArray();
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v);
            data = b.array();
            dtype = "<f4";
        }
        byte[] header = Npy.header(dtype, array.getShape().getShape());
        byte[] all = new byte[header.length + data.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(data, 0, all, header.length, data.length);
        return all;
    }

    private static void putEntry(ZipOutputStream zip, String name, byte[] bytes) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(bytes.length);
        entry.setCompressedSize(bytes.length);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(bytes);
        zip.closeEntry();
    }
}
