package io.moco4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * What a data set looks like, read cheaply before training: how many images, their typical size (the median
 * width and height of a sample, from the file headers where the format allows), whether they are grey, and
 * whether they carry labels. {@code config.DataDrivenSettings} chooses a run's settings from it.
 *
 * <p>Sizes come from up to {@value #SIZE_SAMPLE} images spread evenly over the set (its order is by class folder,
 * so every class is visited). Colour is decided on up to {@value #COLOUR_SAMPLE} of them: a JPEG with one
 * component or a PNG of a grey colour type is grey from its header; any other image is decoded and counts as
 * grey when its three channels agree everywhere (within {@value #GREY_TOLERANCE} levels, the rounding of a grey
 * JPEG stored as YCbCr). The set is grey when at most 5% of the checked images have colour: one stray colour
 * image must not bring colour jitter to a grey set, while a few grey photos in a colour set are common.
 *
 * @param images        number of images in the set
 * @param typicalWidth  median width in pixels of the sampled images
 * @param typicalHeight median height
 * @param grey          the images are grey (no colour to jitter or remove)
 * @param classes       number of classes; 0 for an unlabeled set
 * @param sampled       images whose size was read
 * @param colourChecked images checked for colour
 */
public record DataProfile(int images, int typicalWidth, int typicalHeight, boolean grey, int classes, int sampled,
                          int colourChecked) {
    static final int SIZE_SAMPLE = 200;
    static final int COLOUR_SAMPLE = 24;
    static final int GREY_TOLERANCE = 3;

    public boolean labeled() {
        return classes > 0;
    }

    /** The shorter side of the typical image: what a square view can keep without upsampling. */
    public int typicalShortSide() {
        return Math.min(typicalWidth, typicalHeight);
    }

    /** One line for the user, e.g. "50000 images, typically 32x32 px, colour, 10 classes". */
    public String describe() {
        return String.format(Locale.ROOT, "%d images, typically %dx%d px, %s, %s", images, typicalWidth, typicalHeight,
                grey ? "grey" : "colour", labeled() ? classes + " classes" : "unlabeled");
    }

    /** Profiles {@code dataset}; unreadable images of the sample are passed over (the loader will skip them too). */
    public static DataProfile read(ImageDataset dataset) {
        int n = dataset.size();
        int sizeSample = Math.min(n, SIZE_SAMPLE);
        int colourSample = Math.min(n, COLOUR_SAMPLE);
        int[] widths = new int[sizeSample];
        int[] heights = new int[sizeSample];
        int sized = 0;
        int checked = 0;
        int colour = 0;
        for (int k = 0; k < sizeSample; k++) {
            int index = (int) ((long) k * n / sizeSample);
            Header h = header(dataset, index);
            boolean checkColour = k % Math.max(1, sizeSample / Math.max(1, colourSample)) == 0 && checked < colourSample;
            if (h == null || (checkColour && h.grey == null)) {
                RgbImage img = decode(dataset, index);
                if (img == null) {
                    continue;
                }
                h = new Header(img.width(), img.height(), isGrey(img));
            }
            widths[sized] = h.width;
            heights[sized] = h.height;
            sized++;
            if (checkColour) {
                checked++;
                if (!h.grey) {
                    colour++;
                }
            }
        }
        if (sized == 0) {
            return new DataProfile(n, 0, 0, false, dataset.classes().size(), 0, 0);
        }
        boolean grey = checked > 0 && colour <= 0.05 * checked;
        return new DataProfile(n, median(widths, sized), median(heights, sized), grey, dataset.classes().size(), sized, checked);
    }

    /** Size and (when the header says) greyness without decoding; null when only decoding can tell. */
    record Header(int width, int height, Boolean grey) {}

    private static Header header(ImageDataset dataset, int index) {
        if (!(dataset instanceof ImageFolderDataset folder)) {
            return null; // CIFAR binaries and generated scenes decode for free
        }
        return fileHeader(folder.path(index));
    }

    /** JPEG (start-of-frame: size and components) and PNG (IHDR: size and colour type) headers; else null. */
    static Header fileHeader(Path file) {
        byte[] b;
        try (InputStream in = Files.newInputStream(file)) {
            b = in.readNBytes(1 << 17); // EXIF blocks before the frame header stay under 64 KB
        } catch (IOException e) {
            return null;
        }
        if (b.length > 26 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
            int w = int32(b, 16);
            int h = int32(b, 20);
            int colourType = b[25] & 0xff;
            // 0 grey, 4 grey + alpha; 2 RGB and 6 RGBA may still hold grey pixels, 3 (palette) can be either
            return new Header(w, h, colourType == 0 || colourType == 4 ? Boolean.TRUE : null);
        }
        if (b.length > 4 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8) {
            int pos = 2;
            while (pos + 9 < b.length) {
                if ((b[pos] & 0xff) != 0xFF) {
                    return null;
                }
                int marker = b[pos + 1] & 0xff;
                if (marker == 0xFF) {
                    pos++;
                    continue;
                }
                boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
                if (sof) {
                    int h = ((b[pos + 5] & 0xff) << 8) | (b[pos + 6] & 0xff);
                    int w = ((b[pos + 7] & 0xff) << 8) | (b[pos + 8] & 0xff);
                    int components = b[pos + 9] & 0xff;
                    return new Header(w, h, components == 1 ? Boolean.TRUE : null);
                }
                if (marker == 0xDA || marker == 0xD9) {
                    return null;
                }
                pos += 2 + (((b[pos + 2] & 0xff) << 8) | (b[pos + 3] & 0xff));
            }
        }
        return null;
    }

    private static RgbImage decode(ImageDataset dataset, int index) {
        try {
            return dataset.load(index);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static boolean isGrey(RgbImage img) {
        byte[] p = img.pixels();
        for (int i = 0; i + 2 < p.length; i += 3) {
            int r = p[i] & 0xff;
            int g = p[i + 1] & 0xff;
            int b = p[i + 2] & 0xff;
            if (Math.abs(r - g) > GREY_TOLERANCE || Math.abs(g - b) > GREY_TOLERANCE || Math.abs(r - b) > GREY_TOLERANCE) {
                return false;
            }
        }
        return true;
    }

    private static int int32(byte[] b, int at) {
        return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
    }

    private static int median(int[] values, int count) {
        int[] v = Arrays.copyOf(values, count);
        Arrays.sort(v);
        return v[count / 2];
    }
}
