package io.moco4j.io;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Emits a protocol 2 pickle of plain data and tensors in the form {@code torch.load} expects, using
 * only opcodes that torch's {@code weights_only=True} unpickler accepts (BINFLOAT excepted: torch 1.13's
 * weights-only loader has no float opcode, newer versions do).
 *
 * <p>Tensors become {@code torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())}
 * with the persistent id {@code ('storage', torch.<Type>Storage, key, 'cpu', numel)}; the caller stores
 * the storage bytes under {@code data/<key>}.
 */
final class PickleWriter {

    /** Receives each tensor and returns the storage key it will be written under. */
    interface StorageSink {
        String add(HostTensor tensor);
    }

    /** Marks a map to be written as {@code collections.OrderedDict} (state dicts) instead of a plain dict. */
    record OrderedDictValue(Map<?, ?> map) {}

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final Map<String, Integer> globalMemo = new HashMap<>();
    private final StorageSink sink;
    private int nextMemo;

    PickleWriter(StorageSink sink) {
        this.sink = sink;
    }

    byte[] dump(Object root) {
        out.write(0x80);
        out.write(2);
        write(root);
        out.write('.');
        return out.toByteArray();
    }

    private void write(Object o) {
        if (o == null) {
            out.write('N');
        } else if (o instanceof Boolean b) {
            out.write(b ? 0x88 : 0x89);
        } else if (o instanceof Integer || o instanceof Long || o instanceof Short || o instanceof Byte) {
            writeInt(((Number) o).longValue());
        } else if (o instanceof BigInteger b) {
            writeLong1(b);
        } else if (o instanceof Double || o instanceof Float) {
            out.write('G');
            long bits = Double.doubleToLongBits(((Number) o).doubleValue());
            for (int i = 7; i >= 0; i--) {
                out.write((int) (bits >>> (8 * i)) & 0xff);
            }
        } else if (o instanceof String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            out.write('X');
            writeU32(b.length);
            out.writeBytes(b);
        } else if (o instanceof HostTensor t) {
            writeTensor(t);
        } else if (o instanceof OrderedDictValue od) {
            global("collections", "OrderedDict");
            out.write(')');
            out.write('R');
            writeItems(od.map());
        } else if (o instanceof Map<?, ?> m) {
            out.write('}');
            writeItems(m);
        } else if (o instanceof List<?> l) {
            out.write(']');
            if (!l.isEmpty()) {
                out.write('(');
                for (Object x : l) {
                    write(x);
                }
                out.write('e');
            }
        } else {
            throw new IllegalArgumentException("cannot write a " + o.getClass().getName() + " into a torch checkpoint");
        }
    }

    private void writeItems(Map<?, ?> m) {
        if (m.isEmpty()) {
            return;
        }
        out.write('(');
        for (Map.Entry<?, ?> e : m.entrySet()) {
            write(e.getKey());
            write(e.getValue());
        }
        out.write('u');
    }

    private void writeTensor(HostTensor t) {
        String key = sink.add(t);
        global("torch._utils", "_rebuild_tensor_v2");
        out.write('(');
        // persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
        out.write('(');
        write("storage");
        global("torch", t.dtype().torchStorage());
        write(key);
        write("cpu");
        writeInt(t.numel());
        out.write('t');
        out.write('Q');
        writeInt(0);
        long[] shape = t.shape();
        long[] stride = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            stride[i] = s;
            s *= Math.max(shape[i], 1);
        }
        writeTuple(shape);
        writeTuple(stride);
        out.write(0x89); // requires_grad = False
        global("collections", "OrderedDict");
        out.write(')');
        out.write('R'); // backward_hooks = OrderedDict()
        out.write('t');
        out.write('R');
    }

    private void writeTuple(long[] values) {
        if (values.length == 0) {
            out.write(')');
            return;
        }
        out.write('(');
        for (long v : values) {
            writeInt(v);
        }
        out.write('t');
    }

    /** GLOBAL once, then a memo lookup, as Python's pickler does. */
    private void global(String module, String name) {
        String q = module + "\n" + name + "\n";
        Integer memo = globalMemo.get(q);
        if (memo != null) {
            memoGet(memo);
            return;
        }
        out.write('c');
        out.writeBytes(q.getBytes(StandardCharsets.US_ASCII));
        int index = nextMemo++;
        if (index < 256) {
            out.write('q');
            out.write(index);
        } else {
            out.write('r');
            writeU32(index);
        }
        globalMemo.put(q, index);
    }

    private void memoGet(int index) {
        if (index < 256) {
            out.write('h');
            out.write(index);
        } else {
            out.write('j');
            writeU32(index);
        }
    }

    private void writeInt(long v) {
        if (v >= 0 && v < 256) {
            out.write('K');
            out.write((int) v);
        } else if (v >= 0 && v < 65536) {
            out.write('M');
            out.write((int) v & 0xff);
            out.write((int) (v >> 8));
        } else if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            out.write('J');
            writeU32((int) v);
        } else {
            writeLong1(BigInteger.valueOf(v));
        }
    }

    private void writeLong1(BigInteger v) {
        byte[] be = v.toByteArray(); // two's complement, big endian, minimal
        if (be.length > 255) {
            throw new IllegalArgumentException("integer too large for a checkpoint: " + v);
        }
        out.write(0x8a);
        out.write(be.length);
        for (int i = be.length - 1; i >= 0; i--) {
            out.write(be[i]);
        }
    }

    private void writeU32(int v) {
        out.write(v & 0xff);
        out.write(v >> 8 & 0xff);
        out.write(v >> 16 & 0xff);
        out.write(v >>> 24);
    }
}
