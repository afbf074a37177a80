package io.moco4j.data.augment;

import java.util.Arrays;

/**
 * torchvision's {@code ToTensor()} followed by {@code Normalize(mean, std)}: channel c of 8-bit value v becomes
 * {@code (v / 255f - mean[c]) / std[c]}, every step in float32 as torch computes it, written CHW.
 */
public record Normalization(double[] mean, double[] std) {
    public static final Normalization IMAGENET =
            new Normalization(new double[] {0.485, 0.456, 0.406}, new double[] {0.229, 0.224, 0.225});

    public Normalization {
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 values (RGB)");
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** A 3 x 256 table of the normalised value of each channel and byte value. */
    public float[] table() {
        float[] lut = new float[3 * 256];
        for (int c = 0; c < 3; c++) {
            float m = (float) mean[c];
            float s = (float) std[c];
            for (int v = 0; v < 256; v++) {
                lut[c * 256 + v] = (v / 255f - m) / s;
            }
        }
        return lut;
    }

    /** Writes HWC bytes as normalised CHW floats into {@code out[offset ..]}, using {@link #table()}. */
    public static void write(byte[] rgb, int width, int height, float[] table, float[] out, int offset) {
        int plane = width * height;
        if (rgb.length != plane * 3) {
            throw new IllegalArgumentException("expected " + plane * 3 + " bytes, got " + rgb.length);
        }
        for (int i = 0, p = 0; i < plane; i++, p += 3) {
            out[offset + i] = table[rgb[p] & 0xff];
            out[offset + plane + i] = table[256 + (rgb[p + 1] & 0xff)];
            out[offset + 2 * plane + i] = table[512 + (rgb[p + 2] & 0xff)];
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && Arrays.equals(mean, n.mean) && Arrays.equals(std, n.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalization[mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
