package io.moco4j.dist;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Runs the {@code mpirun} job of {@code --processes N} so that, seen from outside, it behaves like one process: SIGINT,
 * SIGTERM and SIGHUP sent to the launcher reach every rank, which finishes its step, saves and exits; the launcher
 * waits for that and exits with the job's status; no process of the job outlives it.
 *
 * <p>Why the launcher signals the ranks itself instead of passing the signal to {@code mpirun}: Open MPI 4.1's mpirun
 * answers INT, TERM and HUP alike by waiting {@code odls_base_sigkill_timeout} (1 s), sending SIGTERM to the ranks,
 * waiting again and sending SIGKILL, then exiting 1 (measured with shell ranks that trap signals: SIGTERM to mpirun
 * reached them as SIGTERM 1 s later, SIGKILL 1 s after that). A rank mid-step cannot save in that window, SIGINT
 * arrives as SIGTERM, and the status is lost. The ranks are mpirun's children on this machine ({@code --processes}
 * is single-machine; several machines are mpirun's own business), so the launcher sends each of them the very
 * signal it got. mpirun runs in a session of its own ({@code setsid}) so that a Ctrl-C at the terminal, which goes
 * to the whole foreground process group, reaches only the launcher; without setsid on PATH it is started directly
 * and Ctrl-C then also reaches mpirun (Open MPI's own 1 s stop). Signal handling in Java uses
 * {@code sun.misc.Signal} (HotSpot and OpenJ9 on Linux and macOS), the same as the single-process run; doing it in
 * the {@code moco4j} bash script instead would miss {@code java -jar moco4j.jar} and would not know the ranks.
 *
 * <p>A rank that does not stop within the stop timeout after the first signal (a hung collective, a handler
 * that never runs) ends the whole job: SIGKILL to every rank and to mpirun, one line saying so, and the exit status
 * of the signal. The checkpoints already written stay.
 */
public final class MpiJob {
    /** Default time the ranks get to finish their step and save after a signal. */
    public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(60);

    private static final String[] SIGNALS = {"INT", "TERM", "HUP"};

    private final Process mpirun;
    private final Duration stopTimeout;
    private final PrintStream err;
    private final AtomicReference<Signal> first = new AtomicReference<>();
    private final AtomicBoolean forced = new AtomicBoolean();

    private MpiJob(Process mpirun, Duration stopTimeout, PrintStream err) {
        this.mpirun = mpirun;
        this.stopTimeout = stopTimeout;
        this.err = err;
    }

    /**
     * Starts {@code command} (an {@link MpiLauncher#command mpirun command}) with this process's output, forwards
     * INT, TERM and HUP to its ranks while it runs, and returns its exit status (128 + the signal's number when it
     * had to be ended after {@code stopTimeout}).
     */
    public static int run(List<String> command, Duration stopTimeout, PrintStream err)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        findOnPath("setsid", System.getenv("PATH")).ifPresent(s -> cmd.add(s.toString()));
        cmd.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.INHERIT)
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        File devNull = new File("/dev/null");
        // the ranks read no input; mpirun in another session must not touch the terminal either
        pb.redirectInput(devNull.exists() ? ProcessBuilder.Redirect.from(devNull) : ProcessBuilder.Redirect.INHERIT);
        Process p = pb.start();
        MpiJob job = new MpiJob(p, stopTimeout, err);
        Thread cleanup = new Thread(job::killAll, "moco4j-mpi-cleanup"); // System.exit or an error in the launcher
        Runtime.getRuntime().addShutdownHook(cleanup);
        Map<Signal, SignalHandler> previous = job.installHandlers();
        try {
            return job.await();
        } finally {
            previous.forEach(MpiJob::restore);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException e) {
                // already shutting down: the hook runs and finds nothing left
            }
        }
    }

    private Map<Signal, SignalHandler> installHandlers() {
        Map<Signal, SignalHandler> previous = new HashMap<>();
        for (String name : SIGNALS) {
            try {
                Signal s = new Signal(name);
                previous.put(s, Signal.handle(s, this::received));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // not available here (e.g. -Xrs): the JVM default stays, the shutdown hook still ends the job
            }
        }
        return previous;
    }

    private static void restore(Signal s, SignalHandler h) {
        try {
            Signal.handle(s, h);
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // keep ours: the job has ended, forwarding finds nothing
        }
    }

    /** Signal handler: pass the signal on to every rank; the first one also starts the stop timeout. */
    private void received(Signal sig) {
        boolean isFirst = first.compareAndSet(null, sig);
        forward(sig.getName());
        if (isFirst) {
            Thread t = new Thread(this::endAfterTimeout, "moco4j-stop-timeout");
            t.setDaemon(true);
            t.start();
        }
    }

    private int await() throws InterruptedException {
        int exit = mpirun.waitFor();
        Signal sig = first.get();
        if (forced.get() && sig != null) {
            return 128 + sig.getNumber();
        }
        return exit;
    }

    private void endAfterTimeout() {
        try {
            if (mpirun.waitFor(stopTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        forced.set(true);
        String left = ranks().stream().map(h -> Long.toString(h.pid())).collect(Collectors.joining(", "));
        err.printf(Locale.ROOT, "moco4j: the job did not stop within %d s of SIG%s (rank processes still running: %s); "
                + "ended it with SIGKILL to every rank and mpirun (checkpoints already saved are kept)%n",
                stopTimeout.toSeconds(), first.get().getName(), left.isEmpty() ? "none, mpirun hung" : left);
        err.flush();
        killAll();
    }

    /** SIGKILL to every process of the job, deepest first, then waits a little for mpirun to be gone. */
    private void killAll() {
        if (!mpirun.isAlive()) {
            return;
        }
        List<ProcessHandle> all = mpirun.descendants().collect(Collectors.toList());
        for (int i = all.size() - 1; i >= 0; i--) {
            all.get(i).destroyForcibly();
        }
        mpirun.destroyForcibly();
        try {
            mpirun.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The rank processes: mpirun's descendants other than Open MPI's own launch daemons. */
    List<ProcessHandle> ranks() {
        return mpirun.descendants().filter(h -> !isOpenMpiDaemon(h)).collect(Collectors.toList());
    }

    private static boolean isOpenMpiDaemon(ProcessHandle h) {
        String cmd = h.info().command().orElse("");
        String name = Path.of(cmd.isEmpty() ? "?" : cmd).getFileName().toString();
        return name.equals("mpirun") || name.equals("orterun") || name.equals("orted") || name.equals("prterun")
                || name.equals("prted") || name.equals("mpiexec");
    }

    /**
     * Sends signal {@code name} to every rank with {@code kill -NAME}; before the ranks exist (mpirun still starting
     * them) to mpirun, which then aborts the start. Without a {@code kill} program, SIGTERM through the JDK.
     */
    private void forward(String name) {
        List<ProcessHandle> targets = ranks();
        if (targets.isEmpty()) {
            targets = List.of(mpirun.toHandle());
        }
        List<String> cmd = new ArrayList<>(List.of("kill", "-" + name));
        targets.forEach(h -> cmd.add(Long.toString(h.pid())));
        try {
            Process k = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            k.getInputStream().readAllBytes(); // a rank that exited meanwhile: "no such process", harmless
            k.waitFor(10, TimeUnit.SECONDS);
        } catch (IOException e) {
            targets.forEach(ProcessHandle::destroy);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static Optional<Path> findOnPath(String program, String path) {
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, program);
            if (p.toFile().canExecute()) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
