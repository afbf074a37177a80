package io.moco4j.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor held in host memory, independent of any {@link NDManager}: element type, shape and the
 * row-major contiguous little-endian bytes. Checkpoint and safetensors readers produce these so a
 * file can be inspected and remapped before anything is placed on a device.
 *
 * @param data exactly {@code numel * dtype.byteSize()} bytes from position 0; treat as read-only
 */
public record HostTensor(DType dtype, long[] shape, ByteBuffer data) {

    public HostTensor {
        shape = shape.clone();
        data = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long expected = numel(shape) * dtype.byteSize();
        if (data.remaining() != expected) {
            throw new IllegalArgumentException("tensor of " + dtype + Arrays.toString(shape) + " needs " + expected
                    + " bytes, got " + data.remaining());
        }
        data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    public static HostTensor ofFloats(float[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return new HostTensor(DType.FLOAT32, shape, b);
    }

    public static HostTensor ofLongs(long[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return new HostTensor(DType.INT64, shape, b);
    }

    /** Copies an NDArray to the host, keeping its element type (float32, float64, float16, int64, int32, int8, uint8, bool). */
    public static HostTensor fromNDArray(NDArray array) {
        DType dtype = switch (array.getDataType()) {
            case FLOAT32 -> DType.FLOAT32;
            case FLOAT64 -> DType.FLOAT64;
            case FLOAT16 -> DType.FLOAT16;
            case BFLOAT16 -> DType.BFLOAT16;
            case INT64 -> DType.INT64;
            case INT32 -> DType.INT32;
            case INT8 -> DType.INT8;
            case UINT8 -> DType.UINT8;
            case BOOLEAN -> DType.BOOL;
            default -> throw new IllegalArgumentException("cannot export NDArray of type " + array.getDataType());
        };
        ByteBuffer native_ = array.toByteBuffer();
        ByteBuffer out = ByteBuffer.allocate(native_.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        if (native_.order() == ByteOrder.LITTLE_ENDIAN || dtype.byteSize() == 1) {
            out.put(native_);
        } else {
            copySwapped(native_, out, dtype.byteSize());
        }
        return new HostTensor(dtype, array.getShape().getShape(), out.flip());
    }

    public long numel() {
        return numel(shape);
    }

    public int rank() {
        return shape.length;
    }

    /** The values as float32; float64 and integers are converted, float16/bfloat16 widen exactly. */
    public float[] toFloatArray() {
        int n = Math.toIntExact(numel());
        float[] out = new float[n];
        ByteBuffer b = data;
        switch (dtype) {
            case FLOAT32 -> b.asFloatBuffer().get(out);
            case FLOAT64 -> { for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(i * 8); }
            case FLOAT16 -> { for (int i = 0; i < n; i++) out[i] = HalfFloats.halfToFloat(b.getShort(i * 2)); }
            case BFLOAT16 -> { for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16); }
            default -> {
                long[] l = toLongArray();
                for (int i = 0; i < n; i++) out[i] = l[i];
            }
        }
        return out;
    }

    /** The values as float64 (exact for every supported type except large int64). */
    public double[] toDoubleArray() {
        int n = Math.toIntExact(numel());
        double[] out = new double[n];
        if (dtype == DType.FLOAT64) {
            data.asDoubleBuffer().get(out);
        } else if (dtype.isFloating()) {
            float[] f = toFloatArray();
            for (int i = 0; i < n; i++) out[i] = f[i];
        } else {
            long[] l = toLongArray();
            for (int i = 0; i < n; i++) out[i] = l[i];
        }
        return out;
    }

    /** The values as int64; only for integer and bool tensors. */
    public long[] toLongArray() {
        int n = Math.toIntExact(numel());
        long[] out = new long[n];
        ByteBuffer b = data;
        switch (dtype) {
            case INT64 -> b.asLongBuffer().get(out);
            case INT32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
            case INT16 -> { for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2); }
            case INT8 -> { for (int i = 0; i < n; i++) out[i] = b.get(i); }
            case UINT8, BOOL -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
            default -> throw new IllegalStateException(dtype + " tensor is not an integer tensor");
        }
        return out;
    }

    /**
     * Creates an NDArray in {@code manager}: floating types become float32, integer and bool types int64
     * (the two element types the rest of MoCo4J computes with).
     */
    public NDArray toNDArray(NDManager manager) {
        Shape s = new Shape(shape);
        if (dtype == DType.FLOAT32) {
            return manager.create(data.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), s, DataType.FLOAT32);
        }
        if (dtype.isFloating()) {
            return manager.create(toFloatArray(), s);
        }
        return manager.create(toLongArray(), s);
    }

    /** A copy of the raw little-endian bytes. */
    public byte[] toByteArray() {
        byte[] out = new byte[data.remaining()];
        data.duplicate().get(out);
        return out;
    }

    /** The transpose of a rank-2 tensor (a new contiguous tensor). */
    public HostTensor transpose2d() {
        if (shape.length != 2) {
            throw new IllegalArgumentException("transpose2d needs a rank-2 tensor, got shape " + Arrays.toString(shape));
        }
        int rows = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[1]);
        int es = dtype.byteSize();
        byte[] src = toByteArray();
        byte[] dst = new byte[src.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                System.arraycopy(src, (r * cols + c) * es, dst, (c * rows + r) * es, es);
            }
        }
        return new HostTensor(dtype, new long[] {cols, rows}, ByteBuffer.wrap(dst));
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public ByteBuffer data() {
        return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostTensor t && t.dtype == dtype && Arrays.equals(t.shape, shape) && t.data.equals(data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * dtype.hashCode() + Arrays.hashCode(shape)) + data.hashCode();
    }

    @Override
    public String toString() {
        return "HostTensor[" + dtype + " " + Arrays.toString(shape) + "]";
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static void copySwapped(ByteBuffer src, ByteBuffer dst, int width) {
        byte[] item = new byte[width];
        while (src.remaining() >= width) {
            src.get(item);
            for (int i = width - 1; i >= 0; i--) {
                dst.put(item[i]);
            }
        }
    }
}
