package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.interop.StateDictFiles;
import io.moco4j.util.UserException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir
    Path tmp;

    /** A file assembled by hand following the format description, independent of our writer. */
    @Test
    void readsAHandAssembledFile() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}";
        ByteBuffer data = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        data.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x7bff).putShort((short) 0x0001); // 1, -2, 65504, 2^-24
        data.putShort((short) 0x3f80).putShort((short) 0xc049); // bf16 1.0, -3.140625
        Path file = file(header, data.array());
        Safetensors.Contents c = Safetensors.read(file);
        assertEquals(Map.of("format", "pt"), c.metadata());
        assertEquals(java.util.List.of("b", "a"), java.util.List.copyOf(c.tensors().keySet()));
        assertArrayEquals(new float[] {1f, -2f, 65504f, 0x1p-24f}, c.tensors().get("a").toFloatArray());
        assertArrayEquals(new long[] {2, 2}, c.tensors().get("a").shape());
        assertArrayEquals(new float[] {1f, -3.140625f}, c.tensors().get("b").toFloatArray());
    }

    @Test
    void roundTripsEveryDtype() {
        Map<?, ?> tensors = (Map<?, ?>) ((Map<?, ?>) TorchCheckpointReader.load(InteropFiles.path("dtypes_zip.pt"))).get("tensors");
        LinkedHashMap<String, HostTensor> sd = new LinkedHashMap<>();
        tensors.forEach((k, v) -> sd.put((String) k, (HostTensor) v));
        Path file = tmp.resolve("all.safetensors");
        Safetensors.write(file, sd, Map.of("k", "v"));
        Safetensors.Contents c = Safetensors.read(file);
        assertEquals(sd, c.tensors());
        assertEquals(Map.of("k", "v"), c.metadata());
        assertTrue(StateDictFiles.isSafetensors(file));
        assertTrue(!StateDictFiles.isSafetensors(InteropFiles.path("dtypes_zip.pt")));
    }

    @Test
    void validatesOffsetsShapesAndSizes() throws IOException {
        byte[] eight = new byte[8];
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight), "do not match its shape");
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "gap or overlap");
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", eight), "cover 4 of the 8");
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", eight), "truncated");
        assertRefused(file("{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", eight), "unsupported safetensors dtype C64");
        assertRefused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", eight), "invalid shape");
        assertRefused(file("{not json", eight), "not valid JSON");
        Path lying = tmp.resolve("lying.safetensors");
        Files.write(lying, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        assertRefused(lying, "header length 1099511627776 is invalid");
    }

    private void assertRefused(Path file, String expected) {
        UserException e = assertThrows(UserException.class, () -> Safetensors.read(file));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private Path file(String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.writeBytes(h);
        out.writeBytes(data);
        Path file = Files.createTempFile(tmp, "t", ".safetensors");
        Files.write(file, out.toByteArray());
        return file;
    }

    @Test
    void headerIsPaddedToEightBytes() throws IOException {
        Path file = tmp.resolve("pad.safetensors");
        Safetensors.write(file, Map.of("x", HostTensor.ofFloats(new float[] {1}, 1)), Map.of());
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        assertEquals(8 + n + 4, all.length);
        assertArrayEquals(HostTensor.ofFloats(new float[] {1}, 1).toByteArray(), Arrays.copyOfRange(all, all.length - 4, all.length));
    }
}
