package io.moco4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.config.Presets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The help a user reads first (issue 18): whole command summaries, every preset, every option described. */
class HelpTextTest {
    private static final Pattern COMMAND_ROW = Pattern.compile("^  (\\S+)\\s+(\\S.*)$");

    /**
     * `moco4j --help` shows each command's first description line in a column picocli wraps at its usage width; a
     * summary cut mid-sentence ("embed ... rows in the order of the") or wrapped onto a second line fails here.
     */
    @Test
    void everyCommandSummaryIsOneWholeSentenceOnOneLine() {
        String help = new CommandLine(new Main()).getUsageMessage(CommandLine.Help.Ansi.OFF);
        List<String> lines = help.lines().toList();
        int start = lines.indexOf("Commands:");
        assertTrue(start >= 0, help);
        List<String> rows = new ArrayList<>();
        for (String line : lines.subList(start + 1, lines.size())) {
            if (line.isBlank()) {
                break;
            }
            Matcher m = COMMAND_ROW.matcher(line);
            assertTrue(m.matches(), "a command summary continues on another line (too long to fit): '" + line + "'\n" + help);
            rows.add(m.group(2));
            assertTrue(m.group(2).endsWith("."), "summary of '" + m.group(1) + "' is not a whole sentence: '" + m.group(2) + "'");
            assertTrue(line.length() <= CommandLine.Model.UsageMessageSpec.DEFAULT_USAGE_WIDTH, line);
        }
        assertEquals(new CommandLine(new Main()).getSubcommands().size(), rows.size(), help);
    }

    @Test
    void pretrainHelpListsEveryPresetOfThePresetsFolder() throws IOException {
        List<String> files;
        try (Stream<Path> s = Files.list(Path.of("src/main/resources/presets"))) {
            files = s.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(".yaml") && !f.equals("defaults.yaml"))
                    .map(f -> f.replace(".yaml", "")).sorted().toList();
        }
        assertEquals(files, Presets.names());
        assertTrue(files.contains("cpu-vit") && files.contains("moco-v3-vit-s") && files.contains("moco-v3-vit-b"), files.toString());
        String help = new CommandLine(new Main()).getSubcommands().get("pretrain").getUsageMessage(CommandLine.Help.Ansi.OFF)
                .replaceAll("\\s+", " ");
        for (String preset : files) {
            assertTrue(help.contains(" " + preset + ",") || help.contains(" " + preset + "."), preset + " missing from: " + help);
        }
    }

    @Test
    void everyPretrainOptionHasADescription() {
        CommandLine pretrain = new CommandLine(new Main()).getSubcommands().get("pretrain");
        List<String> undescribed = new ArrayList<>();
        for (OptionSpec o : pretrain.getCommandSpec().options()) {
            String text = String.join(" ", o.description()).trim();
            if (text.isEmpty()) {
                undescribed.add(o.longestName());
            }
        }
        assertTrue(undescribed.isEmpty(), "options without a description: " + undescribed);
        for (String name : List.of("--epochs", "--batch-size", "--lr", "--seed")) {
            assertFalse(String.join(" ", pretrain.getCommandSpec().findOption(name).description()).isBlank(), name);
        }
    }
}
