package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.api.TinyEncoders;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** {@code --precision}: one definition (the {@link PrecisionOption} mixin) on the commands that run an encoder. */
class PrecisionOptionTest {
    private static final List<String> WITH = List.of("pretrain", "bench", "knn", "lincls", "embed", "index", "serve");
    private static final List<String> WITHOUT = List.of("report", "import", "export");

    @TempDir
    Path tmp;

    @Test
    void theCommandsThatRunAnEncoderShareOneDeclaration() {
        Map<String, CommandLine> commands = new CommandLine(new Main()).getSubcommands();
        OptionSpec first = commands.get("pretrain").getCommandSpec().findOption("--precision");
        assertNotNull(first);
        for (String name : WITH) {
            OptionSpec o = commands.get(name).getCommandSpec().findOption("--precision");
            assertNotNull(o, name + " has no --precision");
            assertEquals(List.of(first.description()), List.of(o.description()), name + "'s --precision is another declaration");
            assertTrue(o.userObject() instanceof java.lang.reflect.Field f && f.getDeclaringClass() == PrecisionOption.class,
                    name + ": --precision is not the PrecisionOption mixin's");
        }
        for (String name : WITHOUT) {
            assertNull(commands.get(name).getCommandSpec().findOption("--precision"), name + " runs no encoder forward pass");
        }
    }

    @Test
    void aBadValueIsOneLineAndExit2InEveryKindOfCommand() throws Exception {
        Path images = tmp.resolve("images");
        TinyEncoders.sceneFolder(images, 2, 1);
        String ckpt = tmp.resolve("missing.ckpt").toString(); // never reached: the value is refused first
        List<String[]> runs = List.of(
                new String[] {"embed", "--checkpoint", ckpt, "--images", images.toString(), "--out", tmp.resolve("e.npy").toString()},
                new String[] {"knn", "--checkpoint", ckpt, "--train", images.toString(), "--val", images.toString()},
                new String[] {"serve", "--checkpoint", ckpt, "--images", images.toString(), "--port", "0"},
                new String[] {"index", "--checkpoint", ckpt, "--images", images.toString(), "--out", tmp.resolve("idx").toString()},
                new String[] {"pretrain", "--data", images.toString(), "--out", tmp.resolve("run").toString()},
                new String[] {"bench", "--preset", "cpu-small"});
        for (String[] args : runs) {
            String[] withBad = java.util.Arrays.copyOf(args, args.length + 2);
            withBad[args.length] = "--precision";
            withBad[args.length + 1] = "bf8";
            StringWriter err = new StringWriter();
            int code = Main.run(new PrintWriter(err, true), withBad);
            String text = err.toString().strip();
            assertEquals(2, code, args[0] + ": " + text);
            assertEquals("error: precision 'bf8' is not known; use fp32, bf16, fp16 or auto", text, args[0]);
        }
    }

    @Test
    void theValueParsesAndInferenceDefaultsToFp32() {
        PrecisionOption o = new PrecisionOption();
        assertEquals(io.moco4j.precision.Precision.FP32, o.orFp32());
        assertTrue(o.given().isEmpty());
        CommandLine cli = new CommandLine(new Main());
        CommandLine.ParseResult parsed = cli.parseArgs("embed", "--raw-pixels", "--images", "x", "--out", "x.npy", "--precision", "BF16");
        EmbedCommand embed = (EmbedCommand) parsed.subcommand().commandSpec().userObject();
        assertEquals(io.moco4j.precision.Precision.BF16, embed.source.precision.orFp32());
    }
}
