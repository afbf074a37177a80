package io.moco4j.train;

import java.util.concurrent.atomic.AtomicReference;
import sun.misc.Signal;

/**
 * Turns Ctrl-C (SIGINT), SIGTERM and SIGHUP into a flag the training loop polls between steps, so a run
 * finishes its step, saves a checkpoint and exits instead of dying mid-write. A second signal while saving is
 * ignored for the same reason. A run stopped by a signal exits 128 + the signal's number (130 for SIGINT, 143 for
 * SIGTERM, 129 for SIGHUP, as shells report), so scripts and schedulers can tell it from a finished run.
 */
public final class StopSignal {
    /** The signals a run stops on; what {@code timeout}, schedulers, service managers and closed terminals send. */
    public static final String[] NAMES = {"INT", "TERM", "HUP"};

    private record Received(String name, int number) {}

    private final AtomicReference<Received> received = new AtomicReference<>();

    /** Installs handlers for INT, TERM and HUP; where the JVM refuses (e.g. -Xrs), the default behaviour stays. */
    public static StopSignal install() {
        StopSignal s = new StopSignal();
        for (String name : NAMES) {
            try {
                Signal.handle(new Signal(name), sig -> s.received.compareAndSet(null,
                        new Received("SIG" + sig.getName(), sig.getNumber())));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // Signal not available on this platform or reserved: keep the JVM default.
            }
        }
        return s;
    }

    /** A signal that only stops when asked in code (tests). */
    public static StopSignal manual() {
        return new StopSignal();
    }

    /** A stop asked for in code; the run then exits as if it had finished (status 0), not as a signalled one. */
    public void request(String reason) {
        received.compareAndSet(null, new Received(reason, 0));
    }

    public boolean requested() {
        return received.get() != null;
    }

    public String reason() {
        Received r = received.get();
        return r == null ? null : r.name();
    }

    /**
     * The process exit status for {@code outcome}: 128 + the signal's number when a signal stopped the run,
     * otherwise the outcome's own (a run that completed while a signal arrived during its last save completed).
     */
    public int exitCode(Pretraining.Outcome outcome) {
        Received r = received.get();
        if (outcome.status() == Pretraining.Status.STOPPED && r != null && r.number() > 0) {
            return 128 + r.number();
        }
        return outcome.exitCode();
    }
}
