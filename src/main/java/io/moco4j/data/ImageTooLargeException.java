package io.moco4j.data;

import java.io.IOException;

/** An image whose header announces more pixels than the caller allows; nothing was decoded. */
public class ImageTooLargeException extends IOException {
    public ImageTooLargeException(String name, int width, int height, long maxPixels) {
        super(name + ": " + width + "x" + height + " px is more than the limit of " + maxPixels + " pixels");
    }
}
