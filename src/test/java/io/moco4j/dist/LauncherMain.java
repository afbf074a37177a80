package io.moco4j.dist;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A launcher JVM for {@link LauncherSignalsTest}: {@link MpiJob} running {@code mpirun -np 2 MpiRankMain <args>} with a
 * stop timeout of {@code args[0]} seconds, exiting with the job's status as {@code ./moco4j pretrain --processes 2} does.
 */
public final class LauncherMain {
    private LauncherMain() {}

    public static void main(String[] args) throws Exception {
        List<String> java = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dai.djl.offline=true", "-cp", System.getProperty("java.class.path"),
                MpiRankMain.class.getName()));
        java.addAll(List.of(args).subList(1, args.length));
        List<String> cmd = MpiLauncher.command(MpiLauncher.requireMpirun(), 2, java);
        System.exit(MpiJob.run(cmd, Duration.ofSeconds(Long.parseLong(args[0])), System.err));
    }
}
