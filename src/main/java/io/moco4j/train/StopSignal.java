package io.moco4j.train;

import java.util.concurrent.atomic.AtomicReference;
import sun.misc.Signal;

/**
 * Turns Ctrl-C (SIGINT) and SIGTERM into a flag the training loop polls between steps, so a run
 * finishes its step, saves a checkpoint and exits normally instead of dying mid-write. A second
 * Ctrl-C while saving is ignored for the same reason.
 */
public final class StopSignal {
    private final AtomicReference<String> received = new AtomicReference<>();

    /** Installs handlers for INT and TERM; where the JVM refuses (e.g. -Xrs), the default behaviour stays. */
    public static StopSignal install() {
        StopSignal s = new StopSignal();
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal.handle(new Signal(name), sig -> s.request("SIG" + sig.getName()));
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

    public void request(String reason) {
        received.compareAndSet(null, reason);
    }

    public boolean requested() {
        return received.get() != null;
    }

    public String reason() {
        return received.get();
    }
}
