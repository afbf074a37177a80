package io.moco4j.data;

import io.moco4j.util.UserException;
import java.util.Locale;

/**
 * An image within the pixel limit whose resize (shorter side to the view's size) would exceed it: a very thin
 * image, e.g. 30,000,000 x 1 px (a 30 KB PNG), would become 960,000,000 x 32 px before the centre crop. Refused
 * before the resized buffer is allocated; callers that skip unreadable images skip it too, the others stop with
 * this one line.
 */
public class ResizeTooLargeException extends UserException {
    public ResizeTooLargeException(int width, int height, long newWidth, long newHeight, int shorter, long limit) {
        super(String.format(Locale.ROOT, "an image of %d x %d px would be %d x %d = %,d pixels once its shorter side is"
                        + " resized to %d px, above the limit of %,d (data.max_pixels); crop it to a less extreme aspect ratio",
                width, height, newWidth, newHeight, newWidth * newHeight, shorter, limit));
    }
}
