package io.moco4j.interop;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.io.HostTensor;
import io.moco4j.io.Safetensors;
import io.moco4j.io.TorchCheckpointReader;
import io.moco4j.io.TorchCheckpointWriter;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reading any supported weights file into a state dict, and exporting MoCo4J state dicts for PyTorch:
 * as a torchvision ResNet state dict, as an official MoCo checkpoint, or as safetensors.
 */
public final class StateDictFiles {
    private StateDictFiles() {}

    /** Reads a {@code torch.save} checkpoint (zip or legacy) or a safetensors file and returns its state dict. */
    public static LinkedHashMap<String, HostTensor> read(Path file) {
        if (isSafetensors(file)) {
            return Safetensors.read(file).tensors();
        }
        return MocoCheckpointLayout.stateDict(TorchCheckpointReader.load(file));
    }

    /**
     * Reads a weights file into a checkpoint tree for {@link MocoCheckpointLayout#describe}: a
     * {@code torch.save} file gives its unpickled tree; a safetensors file gives
     * {@code {"state_dict": tensors}} plus its metadata's {@code epoch} (as a Long) and {@code arch}.
     */
    public static Object readTree(Path file) {
        if (!Files.exists(file)) {
            throw new UserException(file + ": no such file; check the path");
        }
        if (!Files.isRegularFile(file)) {
            throw new UserException(file + " is not a file; pass a checkpoint file (.pth, .pth.tar, .pt or .safetensors)");
        }
        if (!isSafetensors(file)) {
            return TorchCheckpointReader.load(file);
        }
        Safetensors.Contents st = Safetensors.read(file);
        LinkedHashMap<String, Object> tree = new LinkedHashMap<>();
        tree.put("state_dict", st.tensors());
        String epoch = st.metadata().get("epoch");
        if (epoch != null && epoch.matches("\\d{1,18}")) {
            tree.put("epoch", Long.parseLong(epoch));
        }
        if (st.metadata().get("arch") != null) {
            tree.put("arch", st.metadata().get("arch"));
        }
        return tree;
    }

    /** Copies host tensors into NDArrays of {@code manager} (float32 / int64), keeping key order. */
    public static LinkedHashMap<String, NDArray> toNDArrays(Map<String, HostTensor> sd, NDManager manager) {
        LinkedHashMap<String, NDArray> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> out.put(k, v.toNDArray(manager)));
        return out;
    }

    public static LinkedHashMap<String, HostTensor> toHost(Map<String, NDArray> sd) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> out.put(k, HostTensor.fromNDArray(v)));
        return out;
    }

    /**
     * Writes the query encoder's backbone as a torchvision ResNet state dict ({@code torch.load} +
     * {@code resnet.load_state_dict(sd, strict=False)}, or strict after replacing {@code fc}). The head
     * ({@code fc.*}) is dropped because it is a MoCo projection, not a torchvision classifier; the key
     * encoder and the queue are not part of a torchvision model either.
     *
     * @param sd a MoCo4J state dict ({@code encoder_q.*}) or a single network with torchvision keys
     * @return the dropped head keys (with torchvision names), for telling the user
     */
    public static List<String> writeTorchvision(Path file, Map<String, NDArray> sd) {
        LinkedHashMap<String, NDArray> encoder = MocoCheckpointLayout.queryEncoder(sd);
        List<String> dropped = new ArrayList<>();
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        encoder.forEach((k, v) -> {
            if (MocoCheckpointLayout.isHeadKey(k)) {
                dropped.add(k);
            } else {
                out.put(k, HostTensor.fromNDArray(v));
            }
        });
        TorchCheckpointWriter.write(file, out);
        return dropped;
    }

    /**
     * Writes a ViT backbone as a timm {@code VisionTransformer} state dict: the MoCo v3 projector ({@code head.*}) is
     * dropped, so {@code timm.create_model(...).load_state_dict(sd, strict=False)} misses only timm's classifier
     * {@code head.weight} / {@code head.bias}, as the official {@code main_lincls.py --pretrained} expects.
     *
     * @param encoder one network's state dict with timm key names
     * @return the dropped projector keys
     */
    public static List<String> writeTimm(Path file, Map<String, NDArray> encoder) {
        List<String> dropped = new ArrayList<>();
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        encoder.forEach((k, v) -> {
            if (k.startsWith("head.")) {
                dropped.add(k);
            } else {
                out.put(k, HostTensor.fromNDArray(v));
            }
        });
        TorchCheckpointWriter.write(file, out);
        return dropped;
    }

    /**
     * Writes an official-layout MoCo checkpoint {@code {'epoch', 'arch', 'state_dict'}} with
     * {@code module.encoder_q.*}, {@code module.encoder_k.*}, {@code module.queue} (dim, K) and
     * {@code module.queue_ptr}, which the official {@code main_lincls.py --pretrained} accepts.
     *
     * @param internal a MoCo4J state dict: {@code encoder_q.*}, {@code encoder_k.*}, {@code queue} (K, dim), {@code queue_ptr}
     */
    public static void writeOfficialMoco(Path file, Map<String, NDArray> internal, long epoch, String arch) {
        writeOfficialMoco(file, internal, epoch, arch, null);
    }

    /**
     * As {@link #writeOfficialMoco(Path, Map, long, String)} plus {@code 'optimizer'}: a
     * {@code torch.optim.SGD} state dict (see {@link TorchOptimizerState#sgdStateDict}), which
     * {@code main_moco.py --resume} passes to {@code optimizer.load_state_dict}. Null leaves it out.
     */
    public static void writeOfficialMoco(Path file, Map<String, NDArray> internal, long epoch, String arch,
                                         Map<String, Object> optimizer) {
        if (MocoCheckpointLayout.kind(internal) != MocoCheckpointLayout.Kind.MOCO4J) {
            throw new IllegalArgumentException("writeOfficialMoco needs a MoCo4J state dict with encoder_q.* keys");
        }
        LinkedHashMap<String, Object> ckpt = new LinkedHashMap<>();
        ckpt.put("epoch", epoch);
        ckpt.put("arch", arch);
        ckpt.put("state_dict", MocoCheckpointLayout.internalToOfficial(toHost(internal)));
        if (optimizer != null) {
            ckpt.put("optimizer", optimizer);
        }
        TorchCheckpointWriter.write(file, ckpt);
    }

    /** Writes the state dict unchanged (same keys) as safetensors with string metadata. */
    public static void writeSafetensors(Path file, Map<String, NDArray> sd, Map<String, String> metadata) {
        Safetensors.write(file, toHost(sd), metadata);
    }

    /** Safetensors files start with a little-endian header length followed by '{'. */
    public static boolean isSafetensors(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(9);
            if (head.length < 9 || head[8] != '{') {
                return false;
            }
            long n = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            return n > 1 && n <= Safetensors.MAX_HEADER_BYTES;
        } catch (IOException e) {
            throw new UserException(file + ": cannot read (" + e.getMessage() + "); check the path", e);
        }
    }
}
