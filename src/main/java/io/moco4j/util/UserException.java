package io.moco4j.util;

/**
 * A problem the user can fix (bad path, bad config value, corrupt or unreadable file). The message is
 * one line naming the problem and the fix; the CLI prints it without a stack trace and exits with 2.
 */
public class UserException extends RuntimeException {
    public UserException(String message) {
        super(message);
    }

    public UserException(String message, Throwable cause) {
        super(message, cause);
    }
}
