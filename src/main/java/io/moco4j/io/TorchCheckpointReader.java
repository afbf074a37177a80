package io.moco4j.io;

import io.moco4j.io.RestrictedUnpickler.PyGlobal;
import io.moco4j.io.RestrictedUnpickler.Storage;
import io.moco4j.io.RestrictedUnpickler.StorageView;
import io.moco4j.io.RestrictedUnpickler.TensorView;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads files written by {@code torch.save} without running any Python: the zip format (torch 1.6
 * and later: {@code <archive>/data.pkl} plus one {@code <archive>/data/<key>} entry per storage) and
 * the legacy format (a magic-number pickle, protocol version, system info, the data pickle, the list
 * of storage keys, then each storage's raw bytes after an 8-byte element count) used by the
 * official 2020 MoCo checkpoints.
 *
 * <p>The result is the unpickled object tree: {@code Map}, {@code List}, {@code Long}, {@code Double},
 * {@code Boolean}, {@code String}, {@code null} and {@link HostTensor} (strided views, storage offsets and
 * shared storages are resolved into contiguous copies). Pickles are decoded by a restricted unpickler
 * that refuses anything but the globals a tensor checkpoint needs.
 */
public final class TorchCheckpointReader {

    /** Size limits that turn hostile or corrupt declared sizes into clear errors instead of huge allocations. */
    public record Limits(long maxPickleBytes, long maxStorageBytes, long maxTotalBytes, int maxNesting) {
        /** 256 MiB of pickle, storages up to 2 GiB each (one Java buffer), 32 GiB in total, 200 levels of nesting. */
        public static final Limits DEFAULT = new Limits(256L << 20, Integer.MAX_VALUE - 8, 32L << 30, 200);
    }

    private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long LEGACY_PROTOCOL = 1001;

    private final Limits limits;

    public TorchCheckpointReader() {
        this(Limits.DEFAULT);
    }

    public TorchCheckpointReader(Limits limits) {
        this.limits = limits;
    }

    /** Reads a checkpoint with the default limits. */
    public static Object load(Path file) {
        return new TorchCheckpointReader().read(file);
    }

    public Object read(Path file) {
        String name = file.toString();
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(512);
        } catch (NoSuchFileException e) {
            throw new UserException(name + ": no such file; check the checkpoint path");
        } catch (IOException e) {
            throw new UserException(name + ": cannot read (" + e.getMessage() + "); check the path and permissions", e);
        }
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return readZip(file, name);
        }
        if (head.length > 262 && new String(head, 257, 5, StandardCharsets.ISO_8859_1).equals("ustar")) {
            throw new UserException(name + ": tar-format checkpoint from torch older than 0.4 is not supported;"
                    + " re-save it with torch.save in a newer torch");
        }
        if (head.length >= 3 && (head[0] & 0xff) == 0x80 && (head[2] & 0xff) == 0x8a) {
            return readLegacy(file, name);
        }
        throw new UserException(name + ": not a PyTorch checkpoint (unknown leading bytes "
                + hex(head, 4) + "); expected a file written by torch.save");
    }

    // ---- zip format ----

    private Object readZip(Path file, String name) {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            String prefix = archivePrefix(zip, name);
            ZipEntry byteorder = zip.getEntry(prefix + "byteorder");
            if (byteorder != null) {
                String order = new String(readEntry(zip, byteorder, 16, name), StandardCharsets.US_ASCII).trim();
                if (!order.equals("little")) {
                    throw new UserException(name + ": tensors are stored " + order
                            + "-endian; re-save the checkpoint on a little-endian machine");
                }
            }
            byte[] pickle = readEntry(zip, zip.getEntry(prefix + "data.pkl"), limits.maxPickleBytes(), name);
            Map<String, Storage> storages = new HashMap<>();
            long[] total = {0};
            RestrictedUnpickler.PersistentLoader loader = pid -> {
                if (pid.size() != 5 || !"storage".equals(pid.get(0))) {
                    throw corrupt(name, "persistent id " + describePid(pid) + " is not ('storage', type, key, location, numel)");
                }
                DType dtype = storageType(pid.get(1), name);
                String key = string(pid.get(2), "storage key", name);
                long numel = count(pid.get(4), name);
                Storage s = storages.get(key);
                if (s == null) {
                    long nbytes = storageBytes(numel, dtype, key, name);
                    total[0] += nbytes;
                    checkTotal(total[0], name);
                    s = new Storage(key, dtype, numel);
                    ZipEntry entry = zip.getEntry(prefix + "data/" + key);
                    if (entry == null) {
                        throw corrupt(name, "storage '" + key + "' has no entry " + prefix + "data/" + key);
                    }
                    if (entry.getSize() >= 0 && entry.getSize() < nbytes) {
                        throw corrupt(name, "entry " + entry.getName() + " holds " + entry.getSize() + " bytes but its storage needs " + nbytes);
                    }
                    byte[] bytes;
                    try {
                        bytes = readEntry(zip, entry, nbytes, name);
                    } catch (IOException e) {
                        throw new UserException(name + ": cannot read archive entry " + entry.getName() + " (" + e.getMessage()
                                + "); the file is truncated or corrupt, re-download or re-save it", e);
                    }
                    if (bytes.length < nbytes) {
                        throw corrupt(name, "entry " + entry.getName() + " holds " + bytes.length + " bytes but its storage needs " + nbytes);
                    }
                    s.bytes = ByteBuffer.wrap(bytes, 0, (int) nbytes).slice().order(ByteOrder.LITTLE_ENDIAN);
                    storages.put(key, s);
                } else if (s.dtype != dtype || s.numel != numel) {
                    throw corrupt(name, "storage '" + key + "' is declared with two different types or sizes");
                }
                return new StorageView(s, 0, numel);
            };
            Object tree = new RestrictedUnpickler(ByteBuffer.wrap(pickle), name, loader).load();
            return materialize(tree, new IdentityHashMap<>(), 0, name);
        } catch (ZipException e) {
            throw new UserException(name + ": not a readable zip archive (" + e.getMessage()
                    + "); the file is truncated or corrupt, re-download or re-save it", e);
        } catch (IOException e) {
            throw new UserException(name + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static String archivePrefix(ZipFile zip, String name) {
        String prefix = null;
        boolean torchScript = false;
        for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
            String n = en.nextElement().getName();
            int slash = n.indexOf('/');
            if (slash > 0 && n.substring(slash + 1).equals("data.pkl")) {
                if (prefix != null) {
                    throw corrupt(name, "the archive holds more than one data.pkl");
                }
                prefix = n.substring(0, slash + 1);
            }
            torchScript |= n.endsWith("/constants.pkl") || n.contains("/code/");
        }
        if (torchScript) {
            throw new UserException(name + ": this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint;"
                    + " save the weights with torch.save(model.state_dict(), path)");
        }
        if (prefix == null) {
            throw new UserException(name + ": zip archive without <archive>/data.pkl, so not a torch.save checkpoint;"
                    + " save the weights with torch.save(model.state_dict(), path)");
        }
        return prefix;
    }

    private static byte[] readEntry(ZipFile zip, ZipEntry entry, long max, String name) throws IOException {
        if (entry.getSize() > max) {
            throw new UserException(name + ": archive entry " + entry.getName() + " declares " + entry.getSize()
                    + " bytes, more than the limit of " + max + "; the file is corrupt or not a plain checkpoint");
        }
        try (InputStream in = zip.getInputStream(entry)) {
            // Read at most max + 1 bytes so a lying size field cannot make us inflate without bound.
            byte[] b = in.readNBytes((int) Math.min(max + 1, Integer.MAX_VALUE - 8));
            if (b.length > max && entry.getSize() < 0) {
                throw new UserException(name + ": archive entry " + entry.getName() + " is larger than the limit of " + max + " bytes");
            }
            return b;
        }
    }

    // ---- legacy format ----

    private Object readLegacy(Path file, String name) {
        ByteBuffer buf;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) {
                throw new UserException(name + ": legacy-format checkpoints over 2 GiB are not supported;"
                        + " re-save it with torch.save in torch 1.6 or newer (zip format)");
            }
            buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UserException(name + ": cannot read (" + e.getMessage() + ")", e);
        }
        RestrictedUnpickler.PersistentLoader noStorages = pid -> {
            throw corrupt(name, "storage reference in a header pickle");
        };
        Object magic = new RestrictedUnpickler(buf, name, noStorages).load();
        if (!(magic instanceof BigInteger m) || !m.equals(LEGACY_MAGIC)) {
            throw new UserException(name + ": wrong magic number " + magic + " for a legacy torch.save file;"
                    + " the file is corrupt or not a PyTorch checkpoint");
        }
        Object protocol = new RestrictedUnpickler(buf, name, noStorages).load();
        if (!Long.valueOf(LEGACY_PROTOCOL).equals(protocol)) {
            throw new UserException(name + ": unsupported legacy checkpoint protocol " + protocol + " (expected 1001)");
        }
        Object sysInfo = new RestrictedUnpickler(buf, name, noStorages).load();
        if (sysInfo instanceof Map<?, ?> info && Boolean.FALSE.equals(info.get("little_endian"))) {
            throw new UserException(name + ": checkpoint was written on a big-endian machine; re-save it on a little-endian one");
        }

        Map<String, Storage> storages = new LinkedHashMap<>();
        long[] total = {0};
        RestrictedUnpickler.PersistentLoader loader = pid -> {
            if (pid.isEmpty() || !"storage".equals(pid.get(0))) {
                String what = pid.isEmpty() ? "an empty persistent id" : "persistent id kind '" + pid.get(0) + "'";
                throw new UserException(name + ": refusing to load " + what
                        + " (a pickled nn.Module rather than a state_dict); this is not a plain tensor checkpoint,"
                        + " re-save it with torch.save(model.state_dict(), path)");
            }
            if (pid.size() != 6) {
                throw corrupt(name, "legacy persistent id " + describePid(pid) + " does not have 6 fields");
            }
            DType dtype = storageType(pid.get(1), name);
            String key = string(pid.get(2), "storage key", name);
            long numel = count(pid.get(4), name);
            Storage s = storages.get(key);
            if (s == null) {
                total[0] += storageBytes(numel, dtype, key, name);
                checkTotal(total[0], name);
                s = new Storage(key, dtype, numel);
                storages.put(key, s);
            } else if (s.dtype != dtype || s.numel != numel) {
                throw corrupt(name, "storage '" + key + "' is declared with two different types or sizes");
            }
            Object view = pid.get(5);
            if (view == null) {
                return new StorageView(s, 0, numel);
            }
            if (!(view instanceof List<?> v) || v.size() != 3) {
                throw corrupt(name, "storage view metadata is not (key, offset, size)");
            }
            long offset = count(v.get(1), name);
            long size = count(v.get(2), name);
            if (offset + size > numel) {
                throw corrupt(name, "storage view reaches past the end of storage '" + key + "'");
            }
            return new StorageView(s, offset, size);
        };
        int pickleStart = buf.position();
        Object tree = new RestrictedUnpickler(buf, name, loader).load();
        if (buf.position() - pickleStart > limits.maxPickleBytes()) {
            throw new UserException(name + ": the data pickle is larger than the limit of " + limits.maxPickleBytes() + " bytes");
        }
        Object keys = new RestrictedUnpickler(buf, name, noStorages).load();
        if (!(keys instanceof List<?> keyList)) {
            throw corrupt(name, "the storage key list is missing");
        }
        Set<String> seen = new LinkedHashSet<>();
        for (Object k : keyList) {
            String key = string(k, "storage key", name);
            Storage s = storages.get(key);
            if (s == null || !seen.add(key)) {
                throw corrupt(name, "storage key list names unknown or repeated storage '" + key + "'");
            }
            if (buf.remaining() < 8) {
                throw truncated(name);
            }
            long declared = buf.getLong();
            if (declared != s.numel) {
                throw corrupt(name, "storage '" + key + "' holds " + declared + " elements but the pickle declares " + s.numel);
            }
            long nbytes = s.numel * s.dtype.byteSize();
            if (buf.remaining() < nbytes) {
                throw truncated(name);
            }
            ByteBuffer copy = ByteBuffer.allocate((int) nbytes).order(ByteOrder.LITTLE_ENDIAN);
            copy.put(buf.slice(buf.position(), (int) nbytes)).flip();
            buf.position(buf.position() + (int) nbytes);
            s.bytes = copy;
        }
        if (seen.size() != storages.size()) {
            throw corrupt(name, "the storage key list misses some storages the pickle uses");
        }
        return materialize(tree, new IdentityHashMap<>(), 0, name);
    }

    // ---- tree conversion ----

    /** Replaces tensor views by contiguous HostTensors and copies containers, keeping shared references shared. */
    private Object materialize(Object o, IdentityHashMap<Object, Object> done, int depth, String name) {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof byte[]) {
            return o;
        }
        Object known = done.get(o);
        if (known != null) {
            return known;
        }
        if (depth > limits.maxNesting()) {
            throw corrupt(name, "containers nested deeper than " + limits.maxNesting() + " levels");
        }
        if (o instanceof TensorView v) {
            HostTensor t = copyOut(v);
            done.put(o, t);
            return t;
        }
        if (o instanceof Map<?, ?> m) {
            LinkedHashMap<Object, Object> out = new LinkedHashMap<>();
            done.put(o, out);
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put(materialize(e.getKey(), done, depth + 1, name), materialize(e.getValue(), done, depth + 1, name));
            }
            return out;
        }
        if (o instanceof List<?> l) {
            boolean tuple = !(l instanceof ArrayList<?>);
            List<Object> out = new ArrayList<>(l.size());
            Object result = tuple ? Collections.unmodifiableList(out) : out;
            done.put(o, result);
            for (Object x : l) {
                out.add(materialize(x, done, depth + 1, name));
            }
            return result;
        }
        if (o instanceof Set<?> s) {
            LinkedHashSet<Object> out = new LinkedHashSet<>();
            done.put(o, out);
            for (Object x : s) {
                out.add(materialize(x, done, depth + 1, name));
            }
            return out;
        }
        if (o instanceof StorageView sv) {
            throw new UserException(name + ": holds a bare storage '" + sv.root().key
                    + "' rather than tensors; re-save tensors, not storages");
        }
        if (o instanceof PyGlobal g) {
            throw new UserException(name + ": holds the Python object '" + g.qualifiedName()
                    + "' as data; this is not a plain tensor checkpoint");
        }
        return o;
    }

    /** Gathers a strided view into a new row-major buffer. */
    static HostTensor copyOut(TensorView v) {
        int es = v.storage().dtype.byteSize();
        long numel = HostTensor.numel(v.size());
        ByteBuffer src = v.storage().bytes;
        ByteBuffer dst = ByteBuffer.allocate(Math.toIntExact(numel * es)).order(ByteOrder.LITTLE_ENDIAN);
        if (numel > 0) {
            if (isContiguous(v.size(), v.stride())) {
                dst.put(src.slice((int) (v.offset() * es), (int) (numel * es)));
            } else {
                copyStrided(src, dst, v, es);
            }
        }
        return new HostTensor(v.storage().dtype, v.size(), dst.flip());
    }

    private static boolean isContiguous(long[] size, long[] stride) {
        long expected = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= size[i];
        }
        return true;
    }

    private static void copyStrided(ByteBuffer src, ByteBuffer dst, TensorView v, int es) {
        long[] size = v.size();
        long[] stride = v.stride();
        int rank = size.length;
        long[] index = new long[rank];
        long element = v.offset();
        byte[] item = new byte[es];
        while (true) {
            src.get((int) (element * es), item);
            dst.put(item);
            int d = rank - 1;
            while (d >= 0) {
                index[d]++;
                element += stride[d];
                if (index[d] < size[d]) {
                    break;
                }
                element -= stride[d] * size[d];
                index[d] = 0;
                d--;
            }
            if (d < 0) {
                return;
            }
        }
    }

    // ---- helpers ----

    private static DType storageType(Object o, String name) {
        if (o instanceof PyGlobal g && g.module().equals("torch")) {
            if (g.name().equals("UntypedStorage")) {
                return DType.UINT8;
            }
            DType t = DType.ofTorchStorage(g.name());
            if (t != null) {
                return t;
            }
        }
        throw corrupt(name, "persistent id names " + o + " instead of a torch storage type");
    }

    private long storageBytes(long numel, DType dtype, String key, String name) {
        long nbytes;
        try {
            nbytes = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException e) {
            nbytes = Long.MAX_VALUE;
        }
        if (nbytes > limits.maxStorageBytes()) {
            throw new UserException(name + ": storage '" + key + "' declares " + numel + " " + dtype + " elements (" + nbytes
                    + " bytes), more than the limit of " + limits.maxStorageBytes() + " bytes; the file is corrupt or hostile");
        }
        return nbytes;
    }

    private void checkTotal(long total, String name) {
        if (total > limits.maxTotalBytes()) {
            throw new UserException(name + ": storages declare more than the limit of " + limits.maxTotalBytes()
                    + " bytes in total; the file is corrupt or hostile");
        }
    }

    private static String string(Object o, String what, String name) {
        if (o instanceof String s) {
            return s;
        }
        throw corrupt(name, what + " is not a string");
    }

    private static long count(Object o, String name) {
        if (o instanceof Long l && l >= 0) {
            return l;
        }
        throw corrupt(name, "a storage size or offset is not a non-negative integer: " + o);
    }

    private static String describePid(List<Object> pid) {
        List<String> parts = new ArrayList<>();
        for (Object o : pid) {
            parts.add(o instanceof PyGlobal g ? g.qualifiedName() : String.valueOf(o));
        }
        return "(" + String.join(", ", parts) + ")";
    }

    private static String hex(byte[] b, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(n, b.length); i++) {
            s.append(String.format("%02x", b[i] & 0xff));
        }
        return s.length() == 0 ? "<empty file>" : s.toString();
    }

    private static UserException corrupt(String name, String what) {
        return new UserException(name + ": corrupt checkpoint (" + what + "); re-download or re-save the file");
    }

    private static UserException truncated(String name) {
        return new UserException(name + ": the checkpoint is truncated (storage data ends early); re-download or re-save it");
    }
}
