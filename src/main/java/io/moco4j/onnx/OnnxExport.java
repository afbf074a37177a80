package io.moco4j.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.moco4j.data.ViewTransform;
import io.moco4j.data.augment.CpuViewTransform;
import io.moco4j.data.augment.Normalization;
import io.moco4j.data.augment.OpSpec;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.io.AtomicFiles;
import io.moco4j.model.Encoder;
import io.moco4j.model.Mlp;
import io.moco4j.model.ProjectedEncoder;
import io.moco4j.model.ResNet;
import io.moco4j.model.VisionTransformer;
import io.moco4j.model.VitSpec;
import io.moco4j.train.TrainingData;
import io.moco4j.util.UserException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes an encoder in eval mode as an ONNX model (opset {@value OnnxGraph#OPSET}) that maps a batch of images to the
 * same embeddings {@code embed} computes: input {@value #INPUT} (N, 3, S, S) float32 with N dynamic, output
 * {@value #OUTPUT} (N, D) float32, D the pooled backbone width ({@code --features backbone}) or the head's output
 * width ({@code --features head}). The input is the normalised image ({@code (v / 255 - mean) / std} per channel,
 * CHW) unless {@link Request#normalizeInGraph()}, where it is {@code v / 255} and the graph normalises.
 *
 * <p>The model's {@code metadata_props} record what a runtime needs to prepare images exactly as MoCo4J does
 * ({@link #META_IMAGE_SIZE}, {@link #META_RESIZE}, {@link #META_MEAN}, {@link #META_STD}, {@link #META_INPUT}) and
 * what the output is ({@link #META_FEATURES}, {@link #META_DIMENSION}); {@code api.OnnxEncoder} reads them.
 */
public final class OnnxExport {
    public static final String INPUT = "images";
    public static final String OUTPUT = "embeddings";
    public static final String META_FEATURES = "moco4j.features";
    public static final String META_IMAGE_SIZE = "moco4j.image_size";
    public static final String META_RESIZE = "moco4j.resize_shorter_side";
    public static final String META_MEAN = "moco4j.mean";
    public static final String META_STD = "moco4j.std";
    public static final String META_INPUT = "moco4j.input";
    public static final String META_DIMENSION = "moco4j.dimension";
    public static final String META_ARCHITECTURE = "moco4j.architecture";
    /** {@link #META_INPUT} of a model whose input is already normalised. */
    public static final String INPUT_NORMALIZED = "normalized";
    /** {@link #META_INPUT} of a model that normalises in the graph: its input is {@code v / 255} (torchvision's ToTensor). */
    public static final String INPUT_UNIT_RGB = "rgb_0_1";

    private OnnxExport() {}

    /**
     * What to export.
     *
     * @param network the encoder (in eval mode; its state is read, never changed)
     * @param layer pooled backbone features or the head output, as {@code embed --features}
     * @param imageSize the side of the (square) input
     * @param normalizeInGraph the graph takes {@code v / 255} and normalises itself
     * @param source a description of where the weights come from, stored in the model's doc string
     */
    public record Request(Encoder network, FeatureLayer layer, int imageSize, boolean normalizeInGraph, String source) {}

    /** What was written. */
    public record Result(Path file, int dimension, long bytes) {}

    public static Result write(Request request, Path out) {
        ModelProto model = build(request);
        try {
            AtomicFiles.write(out, model::writeTo);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
        }
        return new Result(out, dimension(model), model.getSerializedSize());
    }

    /** The model in memory. */
    public static ModelProto build(Request request) {
        if (request.network() == null) {
            throw new UserException("raw pixels have no network to export; export a checkpoint's encoder");
        }
        int size = request.imageSize();
        Normalization norm = normalization(size);
        OnnxGraph g = new OnnxGraph("moco4j_encoder");
        String x = g.input(INPUT, -1, 3, size, size);
        if (request.normalizeInGraph()) {
            x = normalize(g, x, norm);
        }
        Encoder net = request.network();
        Map<String, NDArray> state = net.stateDict();
        try (NDManager scratch = net.manager().newSubManager()) {
            StateOps ops = new StateOps(g, state);
            Encoder backbone = net instanceof ProjectedEncoder p ? p.backbone() : net;
            String features;
            if (backbone instanceof ResNet r) {
                features = ResNetOnnx.features(ops, r.spec(), x);
            } else if (backbone instanceof VisionTransformer v) {
                VitSpec spec = v.spec().withImageSize(checkVitSize(v.spec(), size));
                if (spec.gridSize() != v.spec().gridSize()) {
                    state = new LinkedHashMap<>(state);
                    state.put("pos_embed", positionEmbedding(spec, scratch));
                    ops = new StateOps(g, state);
                }
                features = VitOnnx.features(ops, spec, x);
            } else {
                throw new UserException("cannot export " + net.describe() + " to ONNX: only ResNet and ViT encoders export");
            }
            String out = features;
            if (request.layer() == FeatureLayer.HEAD) {
                out = head(ops, net, features);
            }
            int dim = request.layer() == FeatureLayer.HEAD ? net.outputDim() : net.featureDim();
            g.op("Identity", OUTPUT, out);
            g.output(OUTPUT, -1, dim);
            g.metadata(META_FEATURES, request.layer().id());
            g.metadata(META_IMAGE_SIZE, Integer.toString(size));
            g.metadata(META_RESIZE, Integer.toString(resizeShorter(size)));
            g.metadata(META_MEAN, join(norm.mean()));
            g.metadata(META_STD, join(norm.std()));
            g.metadata(META_INPUT, request.normalizeInGraph() ? INPUT_UNIT_RGB : INPUT_NORMALIZED);
            g.metadata(META_DIMENSION, Integer.toString(dim));
            g.metadata(META_ARCHITECTURE, net.describe());
            String doc = "MoCo4J encoder " + net.describe() + " (" + request.layer().id() + " features, " + dim + "-d, "
                    + size + " px) from " + request.source();
            return g.model(version(), doc);
        }
    }

    private static String head(StateOps ops, Encoder net, String features) {
        if (net instanceof ResNet r) {
            return ResNetOnnx.head(ops, r.spec().head(), features);
        }
        if (net instanceof ProjectedEncoder p) {
            if (p.head() instanceof Mlp mlp) {
                return MlpOnnx.forward(ops, mlp.spec(), p.headPrefix(), features);
            }
            throw new UserException("cannot export the head of " + net.describe() + " to ONNX: only moco-v3 MLP heads export");
        }
        return features; // a backbone without a head: its forward is its features, as embed --features head gives
    }

    /** torchvision's Normalize after ToTensor: {@code (x - mean) / std} with (1, 3, 1, 1) constants. */
    private static String normalize(OnnxGraph g, String x, Normalization norm) {
        String mean = g.weights("normalize.mean", floats(norm.mean()), 1, 3, 1, 1);
        String std = g.weights("normalize.std", floats(norm.std()), 1, 3, 1, 1);
        return g.op("Div", "normalized", g.op("Sub", "centered", x, mean), std);
    }

    private static int checkVitSize(VitSpec spec, int size) {
        if (size % spec.patchSize() != 0) {
            throw new UserException("image size " + size + " is not divisible by the ViT patch size " + spec.patchSize()
                    + "; export at a multiple of " + spec.patchSize() + " (e.g. " + spec.imageSize() + ")");
        }
        return size;
    }

    /** The fixed sin-cos embedding of another grid, as {@code VisionTransformer} recomputes it for that grid. */
    private static NDArray positionEmbedding(VitSpec spec, NDManager scratch) {
        try (VisionTransformer other = VisionTransformer.create(spec, scratch, 0)) {
            NDArray pe = other.stateDict().get("pos_embed").duplicate();
            pe.attach(scratch);
            return pe;
        }
    }

    /** The evaluation preprocessing's normalisation at this size (CIFAR statistics at 32-64 px, ImageNet's above). */
    static Normalization normalization(int size) {
        return evalSpec(size).spec().normalization();
    }

    /** The shorter side the evaluation preprocessing resizes to before its centre crop. */
    static int resizeShorter(int size) {
        for (OpSpec op : evalSpec(size).spec().ops()) {
            if (op instanceof OpSpec.Resize r) {
                return r.shorter();
            }
        }
        return size;
    }

    private static CpuViewTransform evalSpec(int size) {
        ViewTransform t = TrainingData.evalTransform(size);
        if (t instanceof CpuViewTransform cpu) {
            return cpu;
        }
        throw new IllegalStateException("the evaluation transform at " + size + " px is not a CPU recipe: " + t);
    }

    private static int dimension(ModelProto model) {
        return (int) model.getGraph().getOutput(0).getType().getTensorType().getShape().getDim(1).getDimValue();
    }

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    private static String join(double[] v) {
        StringBuilder s = new StringBuilder();
        for (double d : v) {
            s.append(s.length() == 0 ? "" : ",").append(d);
        }
        return s.toString();
    }

    private static String version() {
        String v = OnnxExport.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
