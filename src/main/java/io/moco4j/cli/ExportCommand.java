package io.moco4j.cli;

import io.moco4j.interop.CheckpointExport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes a MoCo4J checkpoint's weights for PyTorch.",
                "torchvision: the encoder's backbone as a torchvision ResNet state dict (the MoCo head fc is dropped);"
                        + " moco: the official main_moco.py checkpoint (for main_moco.py --resume and main_lincls.py --pretrained);"
                        + " safetensors: the encoder's state dict with the architecture as metadata;"
                        + " onnx: the query encoder in eval mode as an ONNX model (opset 17, dynamic batch) for ONNX Runtime."})
final class ExportCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--checkpoint", required = true, paramLabel = "CKPT", description = "A MoCo4J checkpoint, e.g. runs/NAME/checkpoints/last.ckpt.")
    Path checkpoint;

    @Option(names = "--format", required = true, paramLabel = "F", description = "torchvision, moco, safetensors or onnx.")
    String format;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The file to write.")
    Path out;

    @Option(names = "--encoder", paramLabel = "q|k",
            description = "Which encoder to write for torchvision and safetensors: q (query, default) or k (momentum).")
    String encoder;

    @Option(names = "--features", paramLabel = "L",
            description = "onnx: backbone (pooled backbone features, default, as embed) or head (the projection head's output).")
    String features;

    @Option(names = "--image-size", paramLabel = "PX",
            description = "onnx: the input size in pixels (default: the size the checkpoint was trained at).")
    Integer imageSize;

    @Option(names = "--normalize-in-graph",
            description = "onnx: the model takes RGB scaled to [0, 1] (v / 255) and normalises with the mean/std itself.")
    boolean normalizeInGraph;

    @Override
    public Integer call() {
        if (format.equalsIgnoreCase("onnx")) {
            OnnxExportRun.run(checkpoint, out, encoder, features, imageSize, normalizeInGraph)
                    .forEach(spec.commandLine().getOut()::println);
            spec.commandLine().getOut().flush();
            return 0;
        }
        if (features != null || imageSize != null || normalizeInGraph) {
            throw new io.moco4j.util.UserException("--features, --image-size and --normalize-in-graph apply to --format onnx only;"
                    + " leave them out for --format " + format);
        }
        CheckpointExport.Result result = CheckpointExport.run(new CheckpointExport.Request(checkpoint, format(format), out, encoder));
        result.lines().forEach(spec.commandLine().getOut()::println);
        spec.commandLine().getOut().flush();
        return 0;
    }

    private static CheckpointExport.Format format(String name) {
        for (CheckpointExport.Format f : CheckpointExport.Format.values()) {
            if (f.name().equalsIgnoreCase(name)) {
                return f;
            }
        }
        throw new io.moco4j.util.UserException("--format is '" + name + "'; choose torchvision, moco, safetensors or onnx");
    }
}
