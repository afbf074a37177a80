package io.moco4j.cli;

import io.moco4j.api.Encoder;
import io.moco4j.eval.FeatureLayer;
import io.moco4j.onnx.OnnxExport;
import io.moco4j.onnx.OnnxGraph;
import io.moco4j.util.UserException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** {@code export --format onnx}: opens the query encoder as {@code embed} does and writes it with {@link OnnxExport}. */
final class OnnxExportRun {
    private OnnxExportRun() {}

    static List<String> run(Path checkpoint, Path out, String encoder, String features, Integer imageSize,
                            boolean normalizeInGraph) {
        if (encoder != null && !encoder.equalsIgnoreCase("q")) {
            throw new UserException("--encoder " + encoder + " is not available for --format onnx, which writes the query"
                    + " encoder (the one embed uses); leave --encoder out");
        }
        if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            throw new UserException("--out " + out + " should end in .onnx (ImageEncoder.open picks ONNX Runtime by that"
                    + " extension); e.g. --out encoder.onnx");
        }
        FeatureLayer layer = features == null ? FeatureLayer.BACKBONE : FeatureLayer.parse(features);
        Encoder.Options options = Encoder.Options.defaults().withDevice("cpu").withLayer(layer).withImageSize(imageSize)
                .withBatchSize(1);
        try (Encoder enc = Encoder.load(checkpoint, options)) {
            OnnxExport.Result r = OnnxExport.write(new OnnxExport.Request(enc.network(), layer, enc.imageSize(),
                    normalizeInGraph, enc.description()), out);
            int s = enc.imageSize();
            String input = normalizeInGraph ? "RGB scaled to [0, 1] (the graph normalises)" : "normalised RGB";
            return List.of(
                    "wrote " + out + " (" + String.format(Locale.ROOT, "%.1f", r.bytes() / 1e6) + " MB, ONNX opset "
                            + OnnxGraph.OPSET + "): " + enc.network().describe() + ", " + layer.id() + " features",
                    "input  '" + OnnxExport.INPUT + "' float32 (N, 3, " + s + ", " + s + "), " + input
                            + "; images are resized and centre-cropped as embed does",
                    "output '" + OnnxExport.OUTPUT + "' float32 (N, " + r.dimension() + ")");
        }
    }
}
