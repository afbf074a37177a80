package io.moco4j.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * Writes an uncompressed zip whose entry data start on 64-byte boundaries, like PyTorch's
 * {@code PyTorchStreamWriter}: the local header's extra field is padded (id "FB", filled with 'Z') so
 * that a loader can memory-map tensors in place. Plain zip readers ignore the padding.
 */
final class AlignedZipWriter implements AutoCloseable {
    static final int ALIGNMENT = 64;
    private static final long MAX_ZIP32 = 0xffffffffL;

    private record Entry(String name, long offset, long size, int crc) {}

    private final OutputStream out;
    private final List<Entry> entries = new ArrayList<>();
    private long position;

    AlignedZipWriter(OutputStream out) {
        this.out = new BufferedOutputStream(out, 1 << 16);
    }

    void add(String name, ByteBuffer data) throws IOException {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        long headerEnd = position + 30 + nameBytes.length;
        int pad = (int) ((ALIGNMENT - (headerEnd + 4) % ALIGNMENT) % ALIGNMENT) + 4;
        long size = data.remaining();
        if (position + 30 + nameBytes.length + pad + size > MAX_ZIP32) {
            throw new IOException("checkpoint larger than 4 GiB: zip64 is not supported by this writer");
        }
        CRC32 crc = new CRC32();
        crc.update(data.duplicate());
        int crcValue = (int) crc.getValue();
        entries.add(new Entry(name, position, size, crcValue));

        ByteBuffer h = ByteBuffer.allocate(30).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        h.putInt(0x04034b50).putShort((short) 20).putShort((short) 0).putShort((short) 0) // stored
                .putShort((short) 0).putShort((short) 0x21) // DOS time 0:00, date 1980-01-01
                .putInt(crcValue).putInt((int) size).putInt((int) size)
                .putShort((short) nameBytes.length).putShort((short) pad);
        write(h.array());
        write(nameBytes);
        byte[] extra = new byte[pad];
        java.util.Arrays.fill(extra, (byte) 'Z');
        extra[0] = 'F';
        extra[1] = 'B';
        extra[2] = (byte) (pad - 4);
        extra[3] = (byte) ((pad - 4) >> 8);
        write(extra);
        if (position % ALIGNMENT != 0) {
            throw new IllegalStateException("zip entry data not aligned");
        }
        ByteBuffer d = data.duplicate();
        byte[] chunk = new byte[1 << 16];
        while (d.hasRemaining()) {
            int n = Math.min(chunk.length, d.remaining());
            d.get(chunk, 0, n);
            out.write(chunk, 0, n);
            position += n;
        }
    }

    /** Writes the central directory and flushes; the underlying stream stays open (its owner closes it). */
    @Override
    public void close() throws IOException {
        long cdStart = position;
        for (Entry e : entries) {
            byte[] nameBytes = e.name.getBytes(StandardCharsets.UTF_8);
            ByteBuffer c = ByteBuffer.allocate(46).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            c.putInt(0x02014b50).putShort((short) 20).putShort((short) 20).putShort((short) 0).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0x21).putInt(e.crc).putInt((int) e.size).putInt((int) e.size)
                    .putShort((short) nameBytes.length).putShort((short) 0).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0).putInt(0).putInt((int) e.offset);
            write(c.array());
            write(nameBytes);
        }
        long cdSize = position - cdStart;
        if (entries.size() > 0xffff || position > MAX_ZIP32) {
            throw new IOException("too many entries or too large for a zip32 archive");
        }
        ByteBuffer end = ByteBuffer.allocate(22).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        end.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) entries.size())
                .putShort((short) entries.size()).putInt((int) cdSize).putInt((int) cdStart).putShort((short) 0);
        write(end.array());
        out.flush();
    }

    private void write(byte[] b) throws IOException {
        out.write(b);
        position += b.length;
    }
}
