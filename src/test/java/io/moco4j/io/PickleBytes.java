package io.moco4j.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Hand-assembles pickle opcodes for tests, independently of our writer. */
final class PickleBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    PickleBytes op(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    PickleBytes proto(int p) {
        return op(0x80, p);
    }

    PickleBytes global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8));
        return this;
    }

    PickleBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X', b.length & 0xff, b.length >> 8 & 0xff, b.length >> 16 & 0xff, b.length >>> 24);
        out.writeBytes(b);
        return this;
    }

    /** BININT (4-byte signed little endian). */
    PickleBytes i32(int v) {
        return op('J', v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >>> 24);
    }

    /** LONG1 with 8 little-endian bytes. */
    PickleBytes i64(long v) {
        op(0x8a, 8);
        for (int i = 0; i < 8; i++) {
            out.write((int) (v >>> (8 * i)) & 0xff);
        }
        return this;
    }

    PickleBytes mark() {
        return op('(');
    }

    PickleBytes tuple() {
        return op('t');
    }

    PickleBytes reduce() {
        return op('R');
    }

    PickleBytes stop() {
        return op('.');
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    /** A one-float-tensor dict {'w': tensor} whose storage declares {@code numel} elements. */
    static PickleBytes tensorDict(long storageNumel, long[] size) {
        PickleBytes p = new PickleBytes().proto(2).op('}').str("w").global("torch._utils", "_rebuild_tensor_v2").mark()
                .mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i64(storageNumel).tuple().op('Q')
                .i32(0).mark();
        for (long s : size) {
            p.i64(s);
        }
        p.tuple().mark();
        long stride = 1;
        long[] strides = new long[size.length];
        for (int i = size.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= size[i];
        }
        for (long s : strides) {
            p.i64(s);
        }
        return p.tuple().op(0x89).global("collections", "OrderedDict").op(')').reduce().tuple().reduce().op('s').stop();
    }

    /** Writes a torch-style zip: archive/data.pkl plus the given data entries (stored). */
    static void zip(Path file, byte[] pickle, String[] names, byte[][] contents) throws IOException {
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(file))) {
            put(z, "archive/data.pkl", pickle);
            for (int i = 0; i < names.length; i++) {
                put(z, "archive/" + names[i], contents[i]);
            }
            put(z, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    private static void put(ZipOutputStream z, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }
}
