package io.moco4j.cli;

import io.moco4j.interop.CheckpointImport;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "import", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Converts PyTorch weights into a MoCo4J checkpoint.",
                "An official MoCo checkpoint (main_moco.py) becomes a full checkpoint that pretrain --resume continues;"
                        + " a torchvision state dict or a main_lincls.py checkpoint becomes an encoder-only checkpoint for"
                        + " knn, lincls and embed. Reads torch.save files (.pth, .pth.tar, .pt) and safetensors."})
final class ImportCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "The PyTorch or safetensors file.")
    Path from;

    @Option(names = "--out", required = true, paramLabel = "CKPT|DIR",
            description = "A .ckpt file, or a run directory that receives checkpoints/last.ckpt (then: pretrain --out DIR --resume).")
    Path out;

    @Option(names = "--preset", paramLabel = "P",
            description = "Preset for the training settings the file does not store. Default: moco-v2 for an MLP head, moco-v1 otherwise.")
    String preset;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a training setting, e.g. --set train.batch_size=128 (model settings come from the file).")
    Map<String, String> overrides = new LinkedHashMap<>();

    @Override
    public Integer call() {
        CheckpointImport.Result result = CheckpointImport.run(new CheckpointImport.Request(from, out, preset, overrides));
        result.lines().forEach(spec.commandLine().getOut()::println);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
