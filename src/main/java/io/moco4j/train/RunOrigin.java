package io.moco4j.train;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Where a run's weights came from, kept for its whole life: the {@code --init-from} file's provenance at the start,
 * carried over from the checkpoint on every resume, written into each checkpoint's metadata ({@code "origin"}) and as
 * a comment at the top of {@code config.yaml}.
 */
final class RunOrigin {
    private RunOrigin() {}

    /** The provenance of the request's initial weights, else the resumed checkpoint's origin; null for neither. */
    static ObjectNode of(Pretraining.Request request, Checkpoints.Loaded resumeFrom) {
        if (request.initialWeights() != null) {
            return request.initialWeights().provenance();
        }
        return resumeFrom == null ? null : resumeFrom.origin();
    }

    /** YAML comment lines naming the initial weights' file and SHA-256 (comments: the settings stay loadable as they were). */
    static String yamlComment(Pretraining.Request request, Checkpoints.Loaded resumeFrom) {
        ObjectNode o = of(request, resumeFrom);
        if (o == null || !o.has("sha256")) {
            return "";
        }
        return "# initial weights (--init-from): " + o.path("init_from").asText() + "\n# sha256: " + o.path("sha256").asText()
                + "\n";
    }
}
