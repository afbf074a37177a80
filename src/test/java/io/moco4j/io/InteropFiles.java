package io.moco4j.io;

import io.moco4j.io.Npy.NpyArray;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/** Paths of the golden files written by tools/golden/interop.py. */
public final class InteropFiles {
    private InteropFiles() {}

    public static Path path(String name) {
        URL url = InteropFiles.class.getResource("/golden/interop/" + name);
        if (url == null) {
            throw new IllegalStateException("missing golden file golden/interop/" + name + "; run tools/golden/interop.py");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static double[] doubles(NpyArray a) {
        if (a.dtype().equals("<f8")) {
            double[] d = new double[(int) a.size()];
            a.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer().get(d);
            return d;
        }
        float[] f = a.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    public static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
