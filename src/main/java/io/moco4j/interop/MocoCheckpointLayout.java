package io.moco4j.interop;

import io.moco4j.io.HostTensor;
import io.moco4j.util.UserException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Recognises and converts the state dict layouts MoCo weights come in.
 *
 * <ul>
 *   <li>{@link Kind#OFFICIAL_MOCO}: facebookresearch/moco {@code main_moco.py}: {@code module.encoder_q.<torchvision key>},
 *       {@code module.encoder_k.*}, {@code module.queue} of shape (dim, K), {@code module.queue_ptr}; the
 *       {@code --mlp} head is {@code fc.0}/{@code fc.2}.</li>
 *   <li>{@link Kind#MOCO4J}: ours: {@code encoder_q.*}, {@code encoder_k.*}, {@code queue} of shape (K, dim)
 *       (one key per row, transposed against the official layout), {@code queue_ptr}.</li>
 *   <li>{@link Kind#OFFICIAL_LINCLS}: {@code main_lincls.py}: {@code module.<torchvision key>} with the linear classifier.</li>
 *   <li>{@link Kind#TORCHVISION}: a bare torchvision ResNet state dict ({@code conv1.weight}, ..., maybe {@code fc.*}).</li>
 * </ul>
 */
public final class MocoCheckpointLayout {

    public enum Kind { OFFICIAL_MOCO, MOCO4J, OFFICIAL_LINCLS, TORCHVISION }

    /** The projection head on top of the pooled features: none, one linear layer, or Linear-ReLU-Linear. */
    public enum Head { NONE, LINEAR, MLP }

    /**
     * A torchvision ResNet's structure as read from its keys.
     *
     * @param depth 18, 34, 50, 101 or 152
     * @param stemWidth output channels of conv1 (64 for torchvision)
     * @param widthMultiplier stemWidth / 64
     * @param cifarStem conv1 is 3x3 (CIFAR variant) rather than 7x7
     * @param featureDim channels entering the head (512 * expansion * widthMultiplier)
     */
    public record ResNetShape(int depth, int stemWidth, double widthMultiplier, boolean cifarStem, int featureDim) {}

    /**
     * What a checkpoint holds.
     *
     * @param head the query encoder's head (for lincls/torchvision a LINEAR head is the classifier)
     * @param dim output size of the head (feature dim for MoCo, classes for a classifier), -1 without a head
     * @param queueSize K, -1 when there is no queue
     * @param epoch and {@code arch} from the checkpoint's top level, null when absent
     */
    public record Description(Kind kind, ResNetShape backbone, Head head, int dim, int queueSize, Long epoch, String arch) {}

    private static final Pattern BLOCK = Pattern.compile("^layer([1-4])\\.(\\d+)\\.");
    private static final Map<List<Integer>, Integer> BASIC_DEPTHS = Map.of(List.of(2, 2, 2, 2), 18, List.of(3, 4, 6, 3), 34);
    private static final Map<List<Integer>, Integer> BOTTLENECK_DEPTHS =
            Map.of(List.of(3, 4, 6, 3), 50, List.of(3, 4, 23, 3), 101, List.of(3, 8, 36, 3), 152);

    private MocoCheckpointLayout() {}

    /**
     * The state dict inside a loaded checkpoint tree: {@code checkpoint['state_dict']} (official MoCo and
     * lincls checkpoints), {@code checkpoint['model']}, or the tree itself when it is a map of tensors.
     */
    public static LinkedHashMap<String, HostTensor> stateDict(Object checkpoint) {
        if (checkpoint instanceof Map<?, ?> top) {
            for (String field : List.of("state_dict", "model")) {
                if (top.get(field) instanceof Map<?, ?> inner && isTensorMap(inner)) {
                    return tensorMap(inner);
                }
            }
            if (isTensorMap(top)) {
                return tensorMap(top);
            }
        }
        throw new UserException("the checkpoint holds no state dict (no 'state_dict' entry and not a map of tensors);"
                + " save one with torch.save(model.state_dict(), path)");
    }

    public static Description describe(Object checkpoint) {
        Map<String, HostTensor> sd = stateDict(checkpoint);
        Long epoch = null;
        String arch = null;
        if (checkpoint instanceof Map<?, ?> top && top != sd) {
            epoch = top.get("epoch") instanceof Long e ? e : null;
            arch = top.get("arch") instanceof String a ? a : null;
        }
        Kind kind = kind(sd);
        Map<String, HostTensor> encoder = queryEncoder(sd);
        ResNetShape backbone = inferResNet(shapes(encoder));
        Head head = head(encoder);
        int dim = switch (head) {
            case NONE -> -1;
            case LINEAR -> (int) encoder.get("fc.weight").shape()[0];
            case MLP -> (int) encoder.get("fc.2.weight").shape()[0];
        };
        int queueSize = -1;
        HostTensor queue = sd.containsKey("module.queue") ? sd.get("module.queue") : sd.get("queue");
        if (queue != null && queue.rank() == 2) {
            queueSize = (int) queue.shape()[kind == Kind.OFFICIAL_MOCO ? 1 : 0];
        }
        return new Description(kind, backbone, head, dim, queueSize, epoch, arch);
    }

    /**
     * The layout of a state dict, decided by its key names (the queue orientation follows from the layout:
     * keys with the DDP {@code module.} prefix are official and hold the queue as (dim, K)).
     */
    public static Kind kind(Map<String, ?> sd) {
        if (sd.keySet().stream().anyMatch(k -> k.startsWith("module.encoder_q."))) {
            return Kind.OFFICIAL_MOCO;
        }
        if (sd.keySet().stream().anyMatch(k -> k.startsWith("encoder_q."))) {
            return Kind.MOCO4J;
        }
        if (sd.containsKey("module.conv1.weight")) {
            return Kind.OFFICIAL_LINCLS;
        }
        if (sd.containsKey("conv1.weight")) {
            return Kind.TORCHVISION;
        }
        throw new UserException("unrecognised checkpoint layout (first keys " + sd.keySet().stream().limit(3).toList()
                + "); expected official MoCo v1/v2 (module.encoder_q.*) or v3 (module.base_encoder.*), MoCo4J, main_lincls"
                + " or torchvision ResNet keys");
    }

    /** Official MoCo to MoCo4J naming: drops {@code module.}, transposes the queue from (dim, K) to (K, dim). */
    public static LinkedHashMap<String, HostTensor> officialToInternal(Map<String, HostTensor> official) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        official.forEach((k, v) -> {
            String key = k.startsWith("module.") ? k.substring("module.".length()) : k;
            out.put(key, key.equals("queue") ? queueTranspose(v, key) : v);
        });
        return out;
    }

    /** MoCo4J to official MoCo naming: adds {@code module.}, transposes the queue from (K, dim) to (dim, K). */
    public static LinkedHashMap<String, HostTensor> internalToOfficial(Map<String, HostTensor> internal) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        internal.forEach((k, v) -> out.put("module." + k, k.equals("queue") ? queueTranspose(v, k) : v));
        return out;
    }

    /** The query encoder (or the single network) with torchvision key names, head included. */
    public static <T> LinkedHashMap<String, T> queryEncoder(Map<String, T> sd) {
        String prefix = switch (kind(sd)) {
            case OFFICIAL_MOCO -> "module.encoder_q.";
            case MOCO4J -> "encoder_q.";
            case OFFICIAL_LINCLS -> "module.";
            case TORCHVISION -> "";
        };
        LinkedHashMap<String, T> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    /** The query encoder without its head ({@code fc.*}): exactly the keys a torchvision ResNet shares with it. */
    public static <T> LinkedHashMap<String, T> backbone(Map<String, T> sd) {
        LinkedHashMap<String, T> out = queryEncoder(sd);
        out.keySet().removeIf(MocoCheckpointLayout::isHeadKey);
        return out;
    }

    public static boolean isHeadKey(String torchvisionKey) {
        return torchvisionKey.startsWith("fc.");
    }

    /** The head type of an encoder with torchvision key names. */
    public static Head head(Map<String, ?> encoder) {
        if (encoder.containsKey("fc.0.weight") && encoder.containsKey("fc.2.weight")) {
            return Head.MLP;
        }
        return encoder.containsKey("fc.weight") ? Head.LINEAR : Head.NONE;
    }

    /**
     * Infers a torchvision ResNet's depth and width from its keys and shapes: the block counts per stage
     * (layer3 has 2 blocks in ResNet-18, 6 in ResNet-34 and -50, which differ by bottleneck {@code conv3}),
     * and the width from conv1's output channels / 64.
     */
    public static ResNetShape inferResNet(Map<String, long[]> shapes) {
        long[] conv1 = shapes.get("conv1.weight");
        if (conv1 == null || conv1.length != 4) {
            throw new UserException("not a ResNet state dict: no 4-d conv1.weight (keys start with "
                    + shapes.keySet().stream().limit(3).toList() + ")");
        }
        TreeMap<Integer, Integer> blocks = new TreeMap<>();
        for (String k : shapes.keySet()) {
            Matcher m = BLOCK.matcher(k);
            if (m.find()) {
                blocks.merge(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)) + 1, Math::max);
            }
        }
        List<Integer> counts = List.of(blocks.getOrDefault(1, 0), blocks.getOrDefault(2, 0), blocks.getOrDefault(3, 0),
                blocks.getOrDefault(4, 0));
        boolean bottleneck = shapes.containsKey("layer1.0.conv3.weight");
        Integer depth = (bottleneck ? BOTTLENECK_DEPTHS : BASIC_DEPTHS).get(counts);
        if (depth == null) {
            throw new UserException("unknown ResNet structure: " + (bottleneck ? "bottleneck" : "basic")
                    + " blocks per stage " + counts + "; supported are ResNet-18/34/50/101/152");
        }
        int stem = (int) conv1[0];
        String lastConv = bottleneck ? "layer4." + (counts.get(3) - 1) + ".conv3.weight" : "layer4." + (counts.get(3) - 1) + ".conv2.weight";
        long[] last = shapes.get(lastConv);
        int featureDim = last == null ? stem * 8 * (bottleneck ? 4 : 1) : (int) last[0];
        return new ResNetShape(depth, stem, widthMultiplier(shapes, stem), conv1[2] == 3, featureDim);
    }

    /**
     * The width multiplier that reproduces every stage's width under ResNetSpec's rounding ({@code round(base * w)},
     * bases 64 (stem), 64, 128, 256, 512): the shortest decimal in the intersection of the intervals each stage allows.
     * For narrow models stem / 64 alone is ambiguous (x0.025 has a 2-wide stem, as x0.03125 does, but 3-wide layer2).
     */
    static double widthMultiplier(Map<String, long[]> shapes, int stem) {
        double lo = (stem - 0.5) / 64;
        double hi = (stem + 0.5) / 64;
        int[] bases = {64, 128, 256, 512};
        for (int stage = 0; stage < 4; stage++) {
            long[] conv = shapes.get("layer" + (stage + 1) + ".0.conv1.weight");
            if (conv != null) {
                lo = Math.max(lo, (conv[0] - 0.5) / bases[stage]);
                hi = Math.min(hi, (conv[0] + 0.5) / bases[stage]);
            }
        }
        if (stem / 64.0 >= lo && stem / 64.0 < hi) {
            return stem / 64.0;
        }
        for (int digits = 1; digits <= 9 && lo < hi; digits++) {
            double scale = Math.pow(10, digits);
            double candidate = Math.ceil(lo * scale - 1e-9) / scale;
            if (candidate >= lo && candidate < hi) {
                return candidate;
            }
        }
        return stem / 64.0;
    }

    public static Map<String, long[]> shapes(Map<String, HostTensor> sd) {
        LinkedHashMap<String, long[]> out = new LinkedHashMap<>();
        sd.forEach((k, v) -> out.put(k, v.shape()));
        return out;
    }

    private static HostTensor queueTranspose(HostTensor queue, String key) {
        if (queue.rank() != 2) {
            throw new UserException("'" + key + "' has shape " + Arrays.toString(queue.shape()) + "; a MoCo queue is 2-d");
        }
        return queue.transpose2d();
    }

    private static boolean isTensorMap(Map<?, ?> m) {
        return !m.isEmpty() && m.entrySet().stream().allMatch(e -> e.getKey() instanceof String && e.getValue() instanceof HostTensor);
    }

    private static LinkedHashMap<String, HostTensor> tensorMap(Map<?, ?> m) {
        LinkedHashMap<String, HostTensor> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put((String) k, (HostTensor) v));
        return out;
    }
}
