package io.moco4j.dist;

import io.moco4j.util.UserException;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Builds the {@code mpirun} command line that starts N local ranks of a Java program ({@code --processes N}).
 *
 * <p>{@code --bind-to none}: by default Open MPI pins each of N local ranks to one core, and libtorch then runs
 * one thread per rank whatever it is told; unbound, each rank uses its share of the cores ({@link CoreShare}).
 * Several machines are mpirun's job ({@code mpirun -np 16 --hostfile hosts ...} or Slurm's {@code srun}), not
 * this class's.
 */
public final class MpiLauncher {
    private MpiLauncher() {}

    /** The {@code mpirun} on PATH, if any. */
    public static Optional<Path> findMpirun() {
        return findMpirun(System.getenv("PATH"));
    }

    /** The first executable {@code mpirun} in the directories of a PATH-style list. */
    static Optional<Path> findMpirun(String path) {
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "mpirun");
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The mpirun on PATH, or a one-line error saying what to install. */
    public static Path requireMpirun() {
        return requireMpirun(System.getenv("PATH"));
    }

    static Path requireMpirun(String path) {
        return findMpirun(path).orElseThrow(() -> new UserException(
                "--processes needs Open MPI's mpirun, which is not on PATH; install it with: apt-get install openmpi-bin"));
    }

    /**
     * {@code mpirun [--allow-run-as-root] --bind-to none [--oversubscribe] -np N <program...>}. Open MPI refuses
     * to run as root without the flag; {@code --oversubscribe} only when N exceeds this machine's cores (mpirun
     * counts one slot per core).
     */
    public static List<String> command(Path mpirun, int processes, List<String> program) {
        if (processes < 1) {
            throw new UserException("--processes must be at least 1, got " + processes);
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(mpirun.toString());
        if (isRoot()) {
            cmd.add("--allow-run-as-root");
        }
        cmd.add("--bind-to");
        cmd.add("none");
        if (processes > Runtime.getRuntime().availableProcessors()) {
            cmd.add("--oversubscribe");
        }
        cmd.add("-np");
        cmd.add(Integer.toString(processes));
        cmd.addAll(program);
        return cmd;
    }

    /** This JVM's own command line for {@code mainClass args}: same java, JVM options and class path. */
    public static List<String> javaCommand(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-agentlib:jdwp")) { // a debugger port cannot be opened N times
                cmd.add(a);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    static boolean isRoot() {
        try {
            return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
        } catch (Throwable e) { // not Unix, or the jdk.security.auth module is absent
            return "root".equals(System.getProperty("user.name"));
        }
    }
}
