package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.io.Npy.NpyArray;
import io.moco4j.testutil.Golden;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TorchCheckpointReaderTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"dtypes_zip.pt", "dtypes_legacy.pt"})
    void readsEveryDtypeViewAndSharedStorageExactly(String file) {
        Map<?, ?> root = (Map<?, ?>) TorchCheckpointReader.load(InteropFiles.path(file));
        Map<?, ?> tensors = (Map<?, ?>) root.get("tensors");
        Map<String, NpyArray> expected = Golden.npz("interop/dtypes_expected.npz");
        JsonNode meta = Golden.json("interop/dtypes_meta.json");
        assertEquals(expected.keySet(), tensors.keySet().stream().map(Object::toString).collect(java.util.stream.Collectors.toSet()));
        for (Map.Entry<String, NpyArray> e : expected.entrySet()) {
            HostTensor t = (HostTensor) tensors.get(e.getKey());
            String what = file + ":" + e.getKey();
            assertEquals(meta.get("dtypes").get(e.getKey()).asText(), torchName(t.dtype()), what);
            assertArrayEquals(e.getValue().shape(), t.shape(), what);
            if (t.dtype().isFloating()) {
                assertArrayEquals(InteropFiles.doubles(e.getValue()), t.toDoubleArray(), 0.0, what);
            } else {
                assertArrayEquals(e.getValue().toLongArray(), t.toLongArray(), what);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"dtypes_zip.pt", "dtypes_legacy.pt"})
    void readsPlainPythonData(String file) {
        Map<?, ?> meta = (Map<?, ?>) ((Map<?, ?>) TorchCheckpointReader.load(InteropFiles.path(file))).get("meta");
        assertEquals(7L, meta.get("epoch"));
        assertEquals("resnet18", meta.get("arch"));
        assertEquals(0.03, meta.get("lr"));
        assertEquals(Boolean.TRUE, meta.get("flag"));
        assertTrue(meta.containsKey("none"));
        assertNull(meta.get("none"));
        assertEquals(List.of(1L, 2L, "x"), meta.get("list"));
        assertEquals(List.of(1L, 2.5), meta.get("tuple"));
        assertEquals(new BigInteger(Golden.json("interop/dtypes_meta.json").get("big").asText()), meta.get("big"));
        assertEquals(-5L, meta.get("neg"));
        assertEquals("\u00b5-\u00df", meta.get("unicode"));
    }

    @Test
    void officialMocoLegacyCheckpointMatchesPyTorch() {
        Map<?, ?> root = (Map<?, ?>) TorchCheckpointReader.load(InteropFiles.path("moco_official_legacy.pth.tar"));
        JsonNode manifest = Golden.json("interop/moco_official_manifest.json");
        assertEquals(200L, root.get("epoch"));
        assertEquals("resnet18", root.get("arch"));
        Map<?, ?> sd = (Map<?, ?>) root.get("state_dict");
        assertEquals(manifest.get("tensors").size(), sd.size());
        var names = manifest.get("tensors").fieldNames();
        for (Object key : sd.keySet()) {
            assertEquals(names.next(), key, "state_dict order is kept");
        }
        manifest.get("tensors").fields().forEachRemaining(e -> {
            HostTensor t = (HostTensor) sd.get(e.getKey());
            assertEquals(e.getValue().get("dtype").asText(), torchName(t.dtype()), e.getKey());
            long[] shape = new long[e.getValue().get("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = e.getValue().get("shape").get(i).asLong();
            }
            assertArrayEquals(shape, t.shape(), e.getKey());
            double sum = Arrays.stream(t.toDoubleArray()).sum();
            assertEquals(e.getValue().get("sum").asDouble(), sum, 1e-9 * Math.max(1, Math.abs(sum)), e.getKey());
        });
        Golden.npz("interop/moco_official_expected.npz").forEach((k, v) -> {
            HostTensor t = (HostTensor) sd.get(k);
            if (t.dtype().isFloating()) {
                assertArrayEquals(v.toFloatArray(), t.toFloatArray(), 0f, k);
            } else {
                assertArrayEquals(v.toLongArray(), t.toLongArray(), k);
            }
        });
        Map<?, ?> optimizer = (Map<?, ?>) root.get("optimizer");
        Map<?, ?> group = (Map<?, ?>) ((List<?>) optimizer.get("param_groups")).get(0);
        assertEquals(0.03, group.get("lr"));
        assertEquals(Boolean.FALSE, group.get("nesterov"));
    }

    @Test
    void sharedTensorsStaySharedInTheTree() throws IOException {
        // {'a': t, 'b': t}: the second reference is a memo lookup of the same rebuilt tensor.
        byte[] pickle = new PickleBytes().proto(2).op('}').str("a").global("torch._utils", "_rebuild_tensor_v2").mark()
                .mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").i64(2).tuple().op('Q')
                .i32(0).mark().i64(2).tuple().mark().i64(1).tuple().op(0x89).op('N').tuple().reduce().op('q', 9)
                .op('s').str("b").op('h', 9).op('s').stop().bytes();
        Path file = tmp.resolve("shared.pt");
        PickleBytes.zip(file, pickle, new String[] {"data/0"}, new byte[][] {{0, 0, (byte) 0x80, 0x3f, 0, 0, 0, 0x40}});
        Map<?, ?> m = (Map<?, ?>) TorchCheckpointReader.load(file);
        assertSame(m.get("a"), m.get("b"));
        assertArrayEquals(new float[] {1f, 2f}, ((HostTensor) m.get("a")).toFloatArray());
    }

    // ---------------------------------------------------------------- refusing unsafe pickles

    @ParameterizedTest
    @ValueSource(strings = {
        "evil_system_zip.pt:posix.system",
        "evil_eval_legacy.pth.tar:__builtin__.eval",
        "evil_popen_p4.pt:subprocess.Popen",
        "evil_getattr.pt:__builtin__.getattr",
        "whole_module.pt:torch.nn.modules.linear.Linear"})
    void refusesPicklesThatReferenceOtherGlobals(String spec) {
        String[] parts = spec.split(":");
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(InteropFiles.path(parts[0])));
        assertTrue(e.getMessage().contains("'" + parts[1] + "'"), e.getMessage());
        assertTrue(e.getMessage().contains("not a plain tensor checkpoint"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
    }

    @Test
    void refusesCallingAnAllowedNonFunction() {
        byte[] pickle = new PickleBytes().proto(2).global("torch", "FloatStorage").mark().i32(3).tuple().reduce().stop().bytes();
        UserException e = assertThrows(UserException.class, () -> unpickle(pickle));
        assertTrue(e.getMessage().contains("REDUCE on 'torch.FloatStorage'"), e.getMessage());
    }

    @Test
    void refusesInstObjAndBuildOnNonDicts() {
        byte[] inst = new PickleBytes().proto(0).mark().op('i').op("os\nsystem\n".chars().toArray()).stop().bytes();
        assertTrue(assertThrows(UserException.class, () -> unpickle(inst)).getMessage().contains("INST"));
        byte[] build = new PickleBytes().proto(2).op(']').op('}').op('b').stop().bytes();
        assertTrue(assertThrows(UserException.class, () -> unpickle(build)).getMessage().contains("BUILD"));
        byte[] stackGlobal = new PickleBytes().proto(4).str("builtins").str("exec").op(0x93).stop().bytes();
        assertTrue(assertThrows(UserException.class, () -> unpickle(stackGlobal)).getMessage().contains("'builtins.exec'"));
    }

    @Test
    void refusesModulePersistentIdsInLegacyFiles() {
        // Legacy torch.save of a whole nn.Module writes ('module', cls, source_file, source) persistent ids.
        byte[] pickle = new PickleBytes().proto(2).mark().str("module").op('N').op('N').op('N').tuple().op('Q').stop().bytes();
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(legacyFile(pickle)));
        assertTrue(e.getMessage().contains("persistent id kind 'module'"), e.getMessage());
    }

    // ---------------------------------------------------------------- corrupt, truncated, oversized

    @Test
    void truncatedZipIsAClearError() throws IOException {
        byte[] full = Files.readAllBytes(InteropFiles.path("dtypes_zip.pt"));
        Path cut = tmp.resolve("cut.pt");
        Files.write(cut, Arrays.copyOf(full, full.length / 2));
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(cut));
        assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {60, 1000, 2700})
    void truncatedLegacyFileIsAClearError(int length) throws IOException {
        byte[] full = Files.readAllBytes(InteropFiles.path("dtypes_legacy.pt"));
        Path cut = tmp.resolve("cut.pt");
        Files.write(cut, Arrays.copyOf(full, Math.min(length, full.length - 1)));
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(cut));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void wrongMagicIsAClearError() throws IOException {
        Path text = tmp.resolve("notes.txt");
        Files.writeString(text, "hello world");
        assertTrue(assertThrows(UserException.class, () -> TorchCheckpointReader.load(text)).getMessage()
                .contains("not a PyTorch checkpoint"));
        byte[] legacy = Files.readAllBytes(InteropFiles.path("dtypes_legacy.pt"));
        legacy[6] ^= 0x55; // inside the 10-byte magic number
        Path bad = tmp.resolve("badmagic.pt");
        Files.write(bad, legacy);
        assertTrue(assertThrows(UserException.class, () -> TorchCheckpointReader.load(bad)).getMessage()
                .contains("wrong magic number"));
        Path empty = tmp.resolve("empty.pt");
        Files.write(empty, new byte[0]);
        assertTrue(assertThrows(UserException.class, () -> TorchCheckpointReader.load(empty)).getMessage().contains("empty file"));
    }

    @Test
    void oversizedDeclaredStorageIsRefusedBeforeAllocating() throws IOException {
        Path file = tmp.resolve("huge.pt");
        PickleBytes.zip(file, PickleBytes.tensorDict(1L << 50, new long[] {1L << 50}).bytes(),
                new String[] {"data/0"}, new byte[][] {new byte[16]});
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(file));
        assertTrue(e.getMessage().contains("declares 1125899906842624 FLOAT32 elements"), e.getMessage());
    }

    @Test
    void storageEntrySmallerThanDeclaredIsCorrupt() throws IOException {
        Path file = tmp.resolve("short.pt");
        PickleBytes.zip(file, PickleBytes.tensorDict(8, new long[] {8}).bytes(), new String[] {"data/0"}, new byte[][] {new byte[16]});
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(file));
        assertTrue(e.getMessage().contains("holds 16 bytes but its storage needs 32"), e.getMessage());
    }

    @Test
    void viewPastTheStorageEndIsCorrupt() throws IOException {
        Path file = tmp.resolve("view.pt");
        PickleBytes.zip(file, PickleBytes.tensorDict(4, new long[] {5}).bytes(), new String[] {"data/0"}, new byte[][] {new byte[16]});
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(file));
        assertTrue(e.getMessage().contains("past the end of storage '0'"), e.getMessage());
    }

    @Test
    void configurableLimitsApply() {
        var small = new TorchCheckpointReader(new TorchCheckpointReader.Limits(1 << 20, 16, 1 << 20, 50));
        UserException e = assertThrows(UserException.class, () -> small.read(InteropFiles.path("dtypes_zip.pt")));
        assertTrue(e.getMessage().contains("more than the limit of 16 bytes"), e.getMessage());
    }

    @Test
    void deepNestingIsRefusedNotAStackOverflow() {
        PickleBytes p = new PickleBytes().proto(2);
        for (int i = 0; i < 5000; i++) {
            p.op(']');
        }
        for (int i = 0; i < 4999; i++) {
            p.op('a');
        }
        byte[] pickle = p.stop().bytes();
        Path file = legacyFile(pickle);
        UserException e = assertThrows(UserException.class, () -> TorchCheckpointReader.load(file));
        assertTrue(e.getMessage().contains("nested deeper"), e.getMessage());
    }

    // ---------------------------------------------------------------- helpers

    private static Object unpickle(byte[] pickle) {
        return new RestrictedUnpickler(java.nio.ByteBuffer.wrap(pickle), "test.pkl", pid -> {
            throw new AssertionError("no storages expected");
        }).load();
    }

    /** A legacy-format file around the given data pickle with no storages. */
    private Path legacyFile(byte[] dataPickle) {
        try {
            var out = new java.io.ByteArrayOutputStream();
            out.writeBytes(new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20,
                0x6a, (byte) 0xa8, 0x50, 0x19, '.'});
            out.writeBytes(new PickleBytes().proto(2).op('M', 0xe9, 0x03).stop().bytes());
            out.writeBytes(new PickleBytes().proto(2).op('}').stop().bytes());
            out.writeBytes(dataPickle);
            out.writeBytes(new PickleBytes().proto(2).op(']').stop().bytes());
            Path file = Files.createTempFile(tmp, "legacy", ".pt");
            Files.write(file, out.toByteArray());
            return file;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String torchName(DType t) {
        return switch (t) {
            case BOOL -> "bool";
            default -> t.name().toLowerCase(Locale.ROOT);
        };
    }
}
