package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.moco4j.interop.MocoCheckpointLayout;
import io.moco4j.interop.StateDictFiles;
import io.moco4j.testutil.Golden;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writes checkpoints and reads them back. With {@code -Dmoco4j.interop.exportDir=DIR} the files are
 * also left in DIR for {@code tools/golden/interop_check_java_export.py}, which loads them with
 * {@code torch.load(weights_only=True)} and torchvision.
 */
class TorchCheckpointWriterTest {
    @TempDir
    Path tmp;

    private Path exportDir() throws IOException {
        String dir = System.getProperty("moco4j.interop.exportDir");
        if (dir == null) {
            return tmp;
        }
        return Files.createDirectories(Path.of(dir));
    }

    @Test
    void roundTripsEveryDtypeAndPlainData() throws IOException {
        Map<?, ?> source = (Map<?, ?>) TorchCheckpointReader.load(InteropFiles.path("dtypes_zip.pt"));
        Map<?, ?> tensors = (Map<?, ?>) source.get("tensors");
        Path file = exportDir().resolve("java_dtypes.pt");
        TorchCheckpointWriter.write(file, tensors);
        assertEquals(tensors, TorchCheckpointReader.load(file));

        Path withMeta = tmp.resolve("with_meta.pt");
        TorchCheckpointWriter.write(withMeta, source);
        assertEquals(source, TorchCheckpointReader.load(withMeta));
    }

    @Test
    void archiveLayoutMatchesTorchSave() throws IOException {
        Path file = tmp.resolve("layout.pt");
        LinkedHashMap<String, HostTensor> sd = new LinkedHashMap<>();
        sd.put("a", HostTensor.ofFloats(new float[] {1, 2, 3}, 3));
        sd.put("b", HostTensor.ofLongs(new long[] {7}, 1));
        TorchCheckpointWriter.write(file, sd);
        byte[] all = Files.readAllBytes(file);
        try (ZipFile zip = new ZipFile(file.toFile())) {
            List<String> names = zip.stream().map(ZipEntry::getName).toList();
            assertEquals(List.of("archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/data/1", "archive/version"), names);
            assertEquals("3\n", new String(zip.getInputStream(zip.getEntry("archive/version")).readAllBytes(), StandardCharsets.US_ASCII));
            assertEquals("little", new String(zip.getInputStream(zip.getEntry("archive/byteorder")).readAllBytes(), StandardCharsets.US_ASCII));
            for (ZipEntry e : zip.stream().toList()) {
                assertEquals(ZipEntry.STORED, e.getMethod(), e.getName());
            }
            assertArrayEquals(sd.get("a").toByteArray(), zip.getInputStream(zip.getEntry("archive/data/0")).readAllBytes());
        }
        // Every local header's data starts on a 64-byte boundary.
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int p = 0;
        int entries = 0;
        while (b.getInt(p) == 0x04034b50) {
            int size = b.getInt(p + 18);
            int data = p + 30 + (b.getShort(p + 26) & 0xffff) + (b.getShort(p + 28) & 0xffff);
            assertEquals(0, data % 64, "entry " + entries + " data offset " + data);
            p = data + size;
            entries++;
        }
        assertEquals(5, entries);
    }

    @Test
    void exportsTheOfficialMocoLayoutAndTorchvisionBackbone() throws IOException {
        Map<String, HostTensor> official = MocoCheckpointLayout.stateDict(
                TorchCheckpointReader.load(InteropFiles.path("moco_official_legacy.pth.tar")));
        Path dir = exportDir();
        try (NDManager m = NDManager.newBaseManager()) {
            LinkedHashMap<String, NDArray> internal =
                    StateDictFiles.toNDArrays(MocoCheckpointLayout.officialToInternal(official), m);
            Path mocoFile = dir.resolve("java_moco_official.pth.tar");
            StateDictFiles.writeOfficialMoco(mocoFile, internal, 200, "resnet18");
            Map<?, ?> back = (Map<?, ?>) TorchCheckpointReader.load(mocoFile);
            assertEquals(200L, back.get("epoch"));
            assertEquals("resnet18", back.get("arch"));
            assertEquals(official, back.get("state_dict"), "official -> internal -> official is the identity");

            Path tv = dir.resolve("java_torchvision.pth");
            List<String> dropped = StateDictFiles.writeTorchvision(tv, internal);
            assertEquals(List.of("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"), dropped);
            Map<String, HostTensor> tvBack = MocoCheckpointLayout.stateDict(TorchCheckpointReader.load(tv));
            assertEquals(MocoCheckpointLayout.backbone(official), tvBack);

            Path st = dir.resolve("java_moco_internal.safetensors");
            StateDictFiles.writeSafetensors(st, internal, Map.of("format", "moco4j", "dim", "8"));
            Safetensors.Contents c = Safetensors.read(st);
            assertEquals(MocoCheckpointLayout.officialToInternal(official), c.tensors());
            assertEquals("8", c.metadata().get("dim"));
            assertEquals(c.tensors(), StateDictFiles.read(st));
        }
    }

    /** A full-size torchvision ResNet-18 backbone with values PyTorch can recompute: ((i + 7 * k) % 1000) / 1000 - 0.5. */
    @Test
    void exportsAFullSizeResnet18Backbone() throws IOException {
        JsonNode spec = Golden.json("interop/resnet18_shapes.json");
        LinkedHashMap<String, HostTensor> sd = new LinkedHashMap<>();
        for (int k = 0; k < spec.get("keys").size(); k++) {
            JsonNode s = spec.get("shapes").get(k);
            long[] shape = new long[s.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = s.get(i).asLong();
            }
            int n = (int) HostTensor.numel(shape);
            if (spec.get("dtypes").get(k).asText().equals("int64")) {
                sd.put(spec.get("keys").get(k).asText(), HostTensor.ofLongs(new long[] {k}, shape));
                continue;
            }
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) ((i + 7L * k) % 1000) / 1000f - 0.5f;
            }
            sd.put(spec.get("keys").get(k).asText(), HostTensor.ofFloats(v, shape));
        }
        Path file = exportDir().resolve("java_resnet18_torchvision.pth");
        try (NDManager m = NDManager.newBaseManager()) {
            List<String> dropped = StateDictFiles.writeTorchvision(file, StateDictFiles.toNDArrays(sd, m));
            assertEquals(List.of("fc.weight", "fc.bias"), dropped);
        }
        Map<String, HostTensor> back = MocoCheckpointLayout.stateDict(TorchCheckpointReader.load(file));
        sd.keySet().removeIf(MocoCheckpointLayout::isHeadKey);
        assertEquals(sd, back);
        assertEquals(18, MocoCheckpointLayout.inferResNet(MocoCheckpointLayout.shapes(back)).depth());
    }
}
