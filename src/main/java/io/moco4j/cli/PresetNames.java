package io.moco4j.cli;

import io.moco4j.config.Presets;
import java.util.Iterator;

/** The built-in presets for picocli's {@code ${COMPLETION-CANDIDATES}}: the presets folder, so help never goes stale. */
final class PresetNames implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
        return Presets.names().iterator();
    }
}
