package io.moco4j.cli;

import io.moco4j.util.UserException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code moco4j} command: a picocli tree of subcommands. */
@Command(name = "moco4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Momentum Contrast (MoCo) self-supervised learning on the JVM.",
        subcommands = {PretrainCommand.class, KnnCommand.class, LinclsCommand.class, EmbedCommand.class,
                ReportCommand.class, ImportCommand.class, ExportCommand.class, ServeCommand.class, IndexCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (0 ok, 1 failed run, 2 bad input). */
    public static int run(String... args) {
        return run(new PrintWriter(System.err, true), args);
    }

    /** As {@link #run(String...)}, with error lines going to {@code err} (tests read them). */
    public static int run(PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setErr(err);
        cli.setExecutionExceptionHandler(Main::handle);
        return cli.execute(args);
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /**
     * Users see one line naming the problem and the fix; an unexpected failure also gets one line, and
     * its stack trace only with MOCO4J_DEBUG=1 so it is never the only message.
     */
    private static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        Throwable user = e;
        while (user != null && !(user instanceof UserException)) {
            user = user.getCause();
        }
        if (user != null) {
            err.println("error: " + user.getMessage());
            err.flush();
            return 2;
        }
        err.println("error: " + e.getClass().getSimpleName() + ": " + e.getMessage()
                + " (an internal error; rerun with MOCO4J_DEBUG=1 for the stack trace and report it)");
        if (System.getenv("MOCO4J_DEBUG") != null) {
            e.printStackTrace(err);
        }
        err.flush();
        return 1;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"MoCo4J " + (v == null ? "dev" : v)};
        }
    }
}
