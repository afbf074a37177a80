package io.moco4j.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Hostile variants of a valid checkpoint file (a torch.save .pth or a MoCo4J .ckpt, both zips): truncation,
 * bit flips, random runs, huge declared sizes, deeply nested pickles and zip entries named with {@code ..}.
 * Used by the unit tests (a few fixed seeds) and by {@code bench.HostileCheckpointBench} (1,000 each).
 */
public final class HostileCheckpoints {
    private HostileCheckpoints() {}

    public static final String[] KINDS = {"truncate", "bitflip", "random-run", "huge-size", "deep-nesting", "dotdot-name", "zero-run"};

    /** Mutation {@code kind} of {@code valid} with generator {@code r}. */
    public static byte[] mutate(byte[] valid, String kind, SplittableRandom r) throws IOException {
        byte[] b = valid.clone();
        switch (kind) {
            case "truncate" -> {
                return Arrays.copyOf(b, r.nextInt(b.length));
            }
            case "bitflip" -> {
                for (int i = 0, n = 1 + r.nextInt(16); i < n; i++) {
                    b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                }
                return b;
            }
            case "random-run" -> {
                int at = r.nextInt(b.length);
                for (int i = at; i < Math.min(b.length, at + 1 + r.nextInt(256)); i++) {
                    b[i] = (byte) r.nextInt(256);
                }
                return b;
            }
            case "zero-run" -> {
                int at = r.nextInt(b.length);
                Arrays.fill(b, at, Math.min(b.length, at + 1 + r.nextInt(4096)), (byte) 0);
                return b;
            }
            case "huge-size" -> {
                return rewrite(b, (name, data) -> hugeSizes(name, data, r));
            }
            case "deep-nesting" -> {
                return rewrite(b, (name, data) -> name.endsWith(".pkl") || name.equals("meta.json")
                        ? deep(name, 1000 + r.nextInt(200_000)) : data);
            }
            case "dotdot-name" -> {
                return renameEntries(b, r);
            }
            default -> throw new IllegalArgumentException(kind);
        }
    }

    interface EntryRewrite {
        byte[] apply(String name, byte[] data);
    }

    /** Declared sizes far beyond the data: npy shapes and pickled storage element counts. */
    static byte[] hugeSizes(String name, byte[] data, SplittableRandom r) {
        String text = new String(data, StandardCharsets.ISO_8859_1);
        if (name.endsWith(".npy")) {
            String big = r.nextBoolean() ? "99999999999" : (r.nextBoolean() ? "-5" : "2147483647, 2147483647");
            return text.replaceFirst("'shape': \\(\\d+", "'shape': (" + big).getBytes(StandardCharsets.ISO_8859_1);
        }
        if (name.endsWith(".pkl")) {
            // BININT (J) and LONG1 arguments: make a few of them enormous (numel, offsets, sizes)
            byte[] out = data.clone();
            for (int i = 0; i + 4 < out.length; i++) {
                if (out[i] == 'J' && r.nextInt(4) == 0) {
                    out[i + 1] = (byte) 0xff;
                    out[i + 2] = (byte) 0xff;
                    out[i + 3] = (byte) 0xff;
                    out[i + 4] = (byte) 0x7f;
                }
            }
            return out;
        }
        return data;
    }

    /** A protocol-2 pickle of {@code depth} nested lists (or JSON arrays for meta.json). */
    static byte[] deep(String name, int depth) {
        if (name.equals("meta.json")) {
            return ("[".repeat(depth) + "]".repeat(depth)).getBytes(StandardCharsets.US_ASCII);
        }
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80);
        p.write(2);
        for (int i = 0; i < depth; i++) {
            p.write(']'); // EMPTY_LIST
        }
        for (int i = 0; i < depth - 1; i++) {
            p.write('a'); // APPEND
        }
        p.write('.');
        return p.toByteArray();
    }

    /** Re-zips with every entry's contents passed through {@code f} (names kept, CRCs recomputed). */
    static byte[] rewrite(byte[] zip, EntryRewrite f) throws IOException {
        List<String> names = new ArrayList<>();
        List<byte[]> datas = new ArrayList<>();
        entries(zip, names, datas);
        for (int i = 0; i < names.size(); i++) {
            datas.set(i, f.apply(names.get(i), datas.get(i)));
        }
        return zip(names, datas);
    }

    static byte[] renameEntries(byte[] zip, SplittableRandom r) throws IOException {
        List<String> names = new ArrayList<>();
        List<byte[]> datas = new ArrayList<>();
        entries(zip, names, datas);
        String[] evil = {"../../escaped_%d", "../%s", "/tmp/moco4j_escaped_%d", "a/../../../%s", "..\\..\\escaped_%d"};
        for (int i = 0; i < names.size(); i++) {
            if (r.nextInt(3) == 0 || i == 0) {
                String pattern = evil[r.nextInt(evil.length)];
                names.set(i, pattern.contains("%s") ? String.format(pattern, names.get(i)) : String.format(pattern, i));
            }
        }
        return zip(names, datas);
    }

    /** Entries in central-directory order (ZipFile: torch writes STORED entries with data descriptors). */
    static void entries(byte[] zip, List<String> names, List<byte[]> datas) throws IOException {
        Path tmp = Files.createTempFile("hostile", ".zip");
        try {
            Files.write(tmp, zip);
            try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(tmp.toFile())) {
                for (var it = z.entries(); it.hasMoreElements(); ) {
                    ZipEntry e = it.nextElement();
                    names.add(e.getName());
                    try (var in = z.getInputStream(e)) {
                        datas.add(in.readAllBytes());
                    }
                }
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    static byte[] zip(List<String> names, List<byte[]> datas) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(out)) {
            z.setMethod(ZipOutputStream.STORED);
            java.util.Set<String> seen = new java.util.HashSet<>();
            for (int i = 0; i < names.size(); i++) {
                if (!seen.add(names.get(i))) {
                    continue;
                }
                ZipEntry e = new ZipEntry(names.get(i));
                CRC32 crc = new CRC32();
                crc.update(datas.get(i));
                e.setMethod(ZipEntry.STORED);
                e.setSize(datas.get(i).length);
                e.setCompressedSize(datas.get(i).length);
                e.setCrc(crc.getValue());
                z.putNextEntry(e);
                z.write(datas.get(i));
                z.closeEntry();
            }
        }
        return out.toByteArray();
    }

    public static byte[] read(Path p) throws IOException {
        return Files.readAllBytes(p);
    }
}
