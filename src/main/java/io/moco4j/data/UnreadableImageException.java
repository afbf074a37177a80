package io.moco4j.data;

import java.io.IOException;

/** A file that is not a decodable image (empty, truncated, corrupt or another format). */
public class UnreadableImageException extends IOException {
    private final String file;

    public UnreadableImageException(String file, String reason) {
        super(file + ": " + reason);
        this.file = file;
    }

    public UnreadableImageException(String file, String reason, Throwable cause) {
        super(file + ": " + reason, cause);
        this.file = file;
    }

    /** The file (or other source) that could not be decoded. */
    public String file() {
        return file;
    }
}
