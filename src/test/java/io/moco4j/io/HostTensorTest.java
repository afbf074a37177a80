package io.moco4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class HostTensorTest {

    @Test
    void halfPrecisionWidensExactlyIncludingSpecialValues() {
        short[] bits = {0x3c00, (short) 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, (short) 0x8000, 0x7c00, (short) 0xfc00};
        float[] want = {1f, -2f, 65504f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : bits) {
            b.putShort(s);
        }
        float[] got = new HostTensor(DType.FLOAT16, new long[] {bits.length}, b.flip()).toFloatArray();
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]), "half bits " + Integer.toHexString(bits[i]));
        }
        ByteBuffer nan = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0x7e00).flip();
        assertEquals(true, Float.isNaN(new HostTensor(DType.FLOAT16, new long[] {1}, nan).toFloatArray()[0]));
    }

    @Test
    void convertsToFloat32OrInt64NDArraysAndBack() {
        try (NDManager m = NDManager.newBaseManager()) {
            HostTensor f = HostTensor.ofFloats(new float[] {1.5f, -2f, 3f, 4f, 5f, 6f}, 2, 3);
            NDArray a = f.toNDArray(m);
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertArrayEquals(new long[] {2, 3}, a.getShape().getShape());
            assertArrayEquals(f.toFloatArray(), a.toFloatArray());
            assertEquals(f, HostTensor.fromNDArray(a));

            ByteBuffer i32 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(-7).putInt(9).flip();
            NDArray l = new HostTensor(DType.INT32, new long[] {2}, i32).toNDArray(m);
            assertEquals(DataType.INT64, l.getDataType());
            assertArrayEquals(new long[] {-7, 9}, l.toLongArray());

            ByteBuffer bf = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0xc049).flip();
            NDArray x = new HostTensor(DType.BFLOAT16, new long[] {}, bf).toNDArray(m);
            assertEquals(DataType.FLOAT32, x.getDataType());
            assertEquals(-3.140625f, x.getFloat(), 0f);
        }
    }

    @Test
    void transposeMovesEveryElement() {
        HostTensor t = HostTensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).transpose2d();
        assertArrayEquals(new long[] {3, 2}, t.shape());
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, t.toFloatArray());
    }
}
