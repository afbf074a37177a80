package io.moco4j.interop;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.moco4j.config.MocoConfig;
import io.moco4j.io.HostTensor;
import io.moco4j.io.TensorArchive;
import io.moco4j.method.Encoders;
import io.moco4j.model.HeadSpec;
import io.moco4j.model.ResNet;
import io.moco4j.model.ResNetSpec;
import io.moco4j.model.VitSpec;
import io.moco4j.train.Checkpoints;
import io.moco4j.util.UserException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a MoCo4J checkpoint's weights for PyTorch:
 * <ul>
 *   <li>{@link Format#TORCHVISION}: one encoder's backbone as a torchvision ResNet state dict ({@code fc} dropped:
 *       it is MoCo's projection head, not a torchvision classifier);</li>
 *   <li>{@link Format#MOCO}: the official {@code main_moco.py} checkpoint {@code {epoch, arch, state_dict, optimizer}}
 *       with {@code module.encoder_q/k.*}, the queue transposed back to (dim, K), {@code queue_ptr} and the SGD state,
 *       which {@code main_moco.py --resume} and {@code main_lincls.py --pretrained} load;</li>
 *   <li>{@link Format#SAFETENSORS}: one encoder's full state dict (head included) with the architecture as metadata.</li>
 * </ul>
 */
public final class CheckpointExport {

    public enum Format { TORCHVISION, MOCO, SAFETENSORS }

    /** @param encoder "q" or "k" for the torchvision and safetensors formats; null means q */
    public record Request(Path checkpoint, Format format, Path out, String encoder) {}

    public record Result(Path out, List<String> lines) {}

    private CheckpointExport() {}

    public static Result run(Request request) {
        if (request.encoder() != null && !request.encoder().equals("q") && !request.encoder().equals("k")) {
            throw new UserException("--encoder is '" + request.encoder() + "'; choose q (the query encoder) or k (the momentum encoder)");
        }
        if (request.format() == Format.MOCO && request.encoder() != null) {
            throw new UserException("--encoder applies to the torchvision and safetensors formats; the moco format holds both encoders");
        }
        Checkpoints.Loaded ckpt = Checkpoints.load(request.checkpoint());
        boolean key = "k".equals(request.encoder());
        if (ckpt.kind() == Checkpoints.Kind.ENCODER && (key || request.format() == Format.MOCO)) {
            throw new UserException("checkpoint " + request.checkpoint() + " holds only an encoder (no key encoder or queue); "
                    + (key ? "export it without --encoder k" : "export it with --format torchvision or safetensors"));
        }
        List<String> lines = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            String prefix = key ? Checkpoints.K : Checkpoints.Q;
            String encoderName = prefix.substring(0, prefix.length() - 1);
            switch (request.format()) {
                case TORCHVISION -> {
                    Map<String, NDArray> encoder = ckpt.tensors(prefix, manager);
                    if (Encoders.isVit(ckpt.config())) {
                        List<String> dropped = StateDictFiles.writeTimm(request.out(), encoder);
                        lines.add(String.format(Locale.ROOT, "Wrote %s: timm VisionTransformer state dict of %s (%d tensors),"
                                + " epoch %d", request.out(), encoderName, encoder.size() - dropped.size(), ckpt.progress().epoch()));
                        lines.add("Dropped the MoCo v3 projector (" + dropped.size() + " head.* tensors): load it with"
                                + " strict=False into timm's VisionTransformer (only head.weight and head.bias stay missing)");
                        break;
                    }
                    List<String> dropped = StateDictFiles.writeTorchvision(request.out(), encoder);
                    lines.add(String.format(Locale.ROOT, "Wrote %s: torchvision %s state dict of %s (%d tensors), epoch %d",
                            request.out(), ckpt.config().model().arch(), encoderName, encoder.size() - dropped.size(),
                            ckpt.progress().epoch()));
                    if (!dropped.isEmpty()) {
                        lines.add("Dropped " + String.join(", ", dropped) + " (the MoCo head, not a torchvision classifier):"
                                + " in PyTorch set model.fc = torch.nn.Identity() before load_state_dict, or load with strict=False");
                    }
                    lines.addAll(architectureNotes(ckpt.encoderSpec(), "torchvision.models." + ckpt.config().model().arch() + "()"));
                }
                case MOCO -> {
                    if (ckpt.config().version() < 3) { // v1/v2: facebookresearch/moco layout
                        writeOfficial(request, ckpt, manager, lines);
                    } else {
                        MocoV3Export.write(request.out(), ckpt, manager, lines);
                    }
                }
                case SAFETENSORS -> {
                    Map<String, NDArray> encoder = ckpt.tensors(prefix, manager);
                    StateDictFiles.writeSafetensors(request.out(), encoder, metadata(ckpt, encoderName));
                    lines.add(String.format(Locale.ROOT, "Wrote %s: safetensors state dict of %s (%d tensors, torchvision key names,"
                            + " head included), epoch %d; the architecture is in the file's metadata",
                            request.out(), encoderName, encoder.size(), ckpt.progress().epoch()));
                }
            }
        }
        return new Result(request.out(), lines);
    }

    private static void writeOfficial(Request request, Checkpoints.Loaded ckpt, NDManager manager, List<String> lines) {
        MocoConfig cfg = ckpt.config();
        LinkedHashMap<String, NDArray> internal = new LinkedHashMap<>();
        ckpt.tensors(Checkpoints.Q, manager).forEach((k, v) -> internal.put(Checkpoints.Q + k, v));
        ckpt.tensors(Checkpoints.K, manager).forEach((k, v) -> internal.put(Checkpoints.K + k, v));
        internal.put("queue", TensorArchive.toNDArray(ckpt.contents().tensor(Checkpoints.QUEUE), manager));
        internal.put("queue_ptr", manager.create(new long[] {ckpt.queuePointer()}));

        List<String> params;
        try (NDManager shapes = manager.newSubManager(); ResNet net = ResNet.create(ckpt.encoderSpec(), shapes, 0)) {
            params = new ArrayList<>(net.parameters().keySet());
        }
        Map<String, HostTensor> buffers = StateDictFiles.toHost(ckpt.tensors(Checkpoints.OPTIMIZER, manager));
        MocoConfig.Optim o = cfg.optim();
        Map<String, Object> optimizer = TorchOptimizerState.sgdStateDict(params, params.size(), buffers,
                o.effectiveLr(cfg.train().batchSize()), o.momentum(), o.weightDecay(), o.nesterov());
        int epoch = ckpt.progress().epoch();
        StateDictFiles.writeOfficialMoco(request.out(), internal, epoch, cfg.model().arch(), optimizer);

        lines.add(String.format(Locale.ROOT, "Wrote %s: official MoCo checkpoint (epoch %d, arch %s; module.encoder_q/k, queue %d x %d,"
                + " queue_ptr %d, SGD state with %d momentum buffers)", request.out(), epoch, cfg.model().arch(), cfg.model().dim(),
                cfg.moco().queueSize(), ckpt.queuePointer(), buffers.size()));
        if (ckpt.progress().stepInEpoch() > 0) {
            lines.add("Note: saved " + ckpt.progress().stepInEpoch() + " steps into epoch " + (epoch + 1)
                    + "; the official format counts whole epochs, so main_moco.py --resume redoes that epoch");
        }
        lines.add(String.format(Locale.ROOT, "Continue in PyTorch: python main_moco.py -a %s%s --moco-dim %d --moco-k %d"
                + " --moco-m %s --moco-t %s --resume %s [--epochs, --lr, data and distributed options]",
                cfg.model().arch(), cfg.model().head().equals("mlp") ? " --mlp" : "", cfg.model().dim(), cfg.moco().queueSize(),
                plain(cfg.moco().momentum()), plain(cfg.moco().temperature()), request.out()));
        lines.addAll(architectureNotes(ckpt.encoderSpec(), "main_moco.py's torchvision " + cfg.model().arch()));
    }

    /** The official scripts build full-width ImageNet-stem torchvision models; say when ours differs. */
    private static List<String> architectureNotes(ResNetSpec spec, String reference) {
        List<String> notes = new ArrayList<>();
        if (spec.widthMultiplier() != 1.0 || spec.cifarStem()) {
            notes.add("Note: this ResNet-" + spec.depth() + (spec.widthMultiplier() != 1.0 ? " has width x" + plain(spec.widthMultiplier()) : "")
                    + (spec.cifarStem() ? (spec.widthMultiplier() != 1.0 ? " and" : "") + " a CIFAR stem (3x3 conv1, no max-pool)" : "")
                    + ", so " + reference + " needs the same changes to load it");
        }
        if (spec.head().kind() == HeadSpec.Kind.MLP && spec.head().hiddenDim() != 0) {
            notes.add("Note: the MLP head's hidden width is " + spec.head().hiddenDim() + ", not the feature width " + spec.featureDim());
        }
        return notes;
    }

    private static Map<String, String> metadata(Checkpoints.Loaded ckpt, String encoderName) {
        MocoConfig.Model m = ckpt.config().model();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "moco4j-encoder");
        meta.put("encoder", encoderName);
        meta.put("arch", m.arch());
        meta.put("epoch", Integer.toString(ckpt.progress().epoch()));
        meta.put("moco_version", Integer.toString(ckpt.config().version()));
        if (Encoders.isVit(ckpt.config())) {
            VitSpec v = Encoders.vitSpec(ckpt.config());
            meta.put("image_size", Integer.toString(v.imageSize()));
            meta.put("patch_size", Integer.toString(v.patchSize()));
            meta.put("width", Integer.toString(v.width()));
            meta.put("depth", Integer.toString(v.depth()));
            meta.put("heads", Integer.toString(v.heads()));
            meta.put("head", "projector");
            meta.put("dim", Integer.toString(m.dim()));
            return meta;
        }
        ResNetSpec spec = ckpt.encoderSpec();
        meta.put("width", plain(m.width()));
        meta.put("cifar_stem", Boolean.toString(m.cifarStem()));
        meta.put("head", spec.head().kind().name().toLowerCase(Locale.ROOT));
        if (spec.head().kind() != HeadSpec.Kind.NONE) {
            meta.put("dim", Integer.toString(spec.head().outDim()));
        }
        if (spec.head().kind() == HeadSpec.Kind.MLP) {
            meta.put("head_hidden", Integer.toString(spec.head().resolvedHiddenDim(spec.featureDim())));
        }
        return meta;
    }

    private static String plain(double v) {
        return BigDecimal.valueOf(v).stripTrailingZeros().toPlainString();
    }
}
