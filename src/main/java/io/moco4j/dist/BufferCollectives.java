package io.moco4j.dist;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.moco4j.model.Tensors;
import io.moco4j.util.NoGrad;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Collectives written as three primitives on direct memory buffers (sum, gather, broadcast): subclasses implement
 * the primitives (Open MPI's calls, or the identity of one process), this class maps Java arrays and NDArrays onto
 * them.
 *
 * <p>A contiguous CPU NDArray is reduced or broadcast in place in its own memory ({@code toByteBuffer(true)}
 * is then a view of the tensor, no copy). Any other array (non-contiguous, or on a GPU) is copied to a host
 * buffer, processed there and copied back. The GPU branch is written but has never run here (no GPU on the
 * development machine).
 *
 * <p>Where NCCL goes: a GPU implementation overrides {@link #allReduceSum(NDArray)},
 * {@link #allGather(NDArray)} and {@link #broadcast(NDArray, int)} for arrays on a GPU and calls NCCL on the
 * tensor's device memory; the NCCL communicator is bootstrapped over this MPI job: {@code ncclGetUniqueId} on
 * rank 0, {@code MPI_Bcast} of the 128-byte {@code ncclUniqueId} (a broadcast of 128 bytes), then
 * {@code ncclCommInitRank(comm, size, id, rank)} on every rank with the device of {@link #localRank()}.
 */
abstract class BufferCollectives implements Collectives {

    /** Element types the primitives understand (MPI datatypes). */
    enum Element {
        BYTE(1), INT(4), LONG(8), FLOAT(4), DOUBLE(8);

        final int bytes;

        Element(int bytes) {
            this.bytes = bytes;
        }

        static Element of(DataType type) {
            switch (type) {
                case FLOAT32: return FLOAT;
                case FLOAT64: return DOUBLE;
                case INT32: return INT;
                case INT64: return LONG;
                case INT8: case UINT8: case BOOLEAN: return BYTE;
                default: throw new IllegalArgumentException("no collective for dtype " + type);
            }
        }
    }

    /** In-place sum over ranks of {@code count} elements at the start of the direct buffer {@code buf}. */
    protected abstract void allReduceSum(ByteBuffer buf, long count, Element type);

    /** Gathers {@code count} elements of {@code send} from every rank into {@code recv} (size * count), rank order. */
    protected abstract void allGather(ByteBuffer send, ByteBuffer recv, long count, Element type);

    /** Overwrites {@code count} elements of {@code buf} with {@code root}'s. */
    protected abstract void broadcast(ByteBuffer buf, long count, Element type, int root);

    static ByteBuffer direct(long bytes) {
        return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.nativeOrder());
    }

    @Override
    public void allReduceSum(float[] values) {
        ByteBuffer buf = direct(4L * values.length);
        buf.asFloatBuffer().put(values);
        allReduceSum(buf, values.length, Element.FLOAT);
        buf.asFloatBuffer().get(values);
    }

    @Override
    public float[] allGather(float[] local) {
        ByteBuffer send = direct(4L * local.length);
        send.asFloatBuffer().put(local);
        ByteBuffer recv = direct(4L * local.length * size());
        allGather(send, recv, local.length, Element.FLOAT);
        float[] out = new float[local.length * size()];
        recv.asFloatBuffer().get(out);
        return out;
    }

    @Override
    public long[] allGather(long[] local) {
        ByteBuffer send = direct(8L * local.length);
        send.asLongBuffer().put(local);
        ByteBuffer recv = direct(8L * local.length * size());
        allGather(send, recv, local.length, Element.LONG);
        long[] out = new long[local.length * size()];
        recv.asLongBuffer().get(out);
        return out;
    }

    @Override
    public void broadcast(float[] values, int root) {
        ByteBuffer buf = direct(4L * values.length);
        buf.asFloatBuffer().put(values);
        broadcast(buf, values.length, Element.FLOAT, root);
        buf.asFloatBuffer().get(values);
    }

    @Override
    public void broadcast(long[] values, int root) {
        ByteBuffer buf = direct(8L * values.length);
        buf.asLongBuffer().put(values);
        broadcast(buf, values.length, Element.LONG, root);
        buf.asLongBuffer().get(values);
    }

    @Override
    public void allReduceSum(NDArray array) {
        Element type = Element.of(array.getDataType());
        inPlace(array, buf -> allReduceSum(buf, array.size(), type));
    }

    @Override
    public void broadcast(NDArray array, int root) {
        Element type = Element.of(array.getDataType());
        inPlace(array, buf -> broadcast(buf, array.size(), type, root));
    }

    @Override
    public NDArray allGather(NDArray local) {
        Element type = Element.of(local.getDataType());
        ByteBuffer send = directCopyOrView(local);
        ByteBuffer recv = direct((long) type.bytes * local.size() * size());
        allGather(send, recv, local.size(), type);
        long[] dims = local.getShape().getShape().clone();
        if (dims.length == 0) {
            dims = new long[] {size()};
        } else {
            dims[0] *= size();
        }
        NDManager manager = local.getManager();
        NDArray gathered = manager.create(recv, new Shape(dims), local.getDataType());
        if (!gathered.getDevice().equals(local.getDevice())) {
            NDArray moved = gathered.toDevice(local.getDevice(), false);
            gathered.close();
            gathered = moved;
        }
        return gathered;
    }

    private interface BufferOp {
        void run(ByteBuffer buf);
    }

    /** Runs {@code op} on the array's own memory when possible, else on a host copy that is copied back. */
    private static void inPlace(NDArray array, BufferOp op) {
        if (array.size() == 0) {
            return;
        }
        ByteBuffer buf = array.toByteBuffer(true);
        if (buf.isDirect() && isView(array, buf)) {
            op.run(buf);
            return;
        }
        // GPU or non-contiguous array: a host copy, then copy_ back (never ran on a GPU here)
        ByteBuffer host = buf.isDirect() ? buf : direct(buf.remaining()).put(buf).rewind();
        op.run(host);
        try (NDManager tmp = array.getManager().newSubManager();
             NoGrad ignored = NoGrad.enter()) {
            NDArray result = tmp.create(host, array.getShape(), array.getDataType());
            Tensors.copyInto(array, result);
        }
    }

    /**
     * Whether {@code buf} is the array's own memory: {@code toByteBuffer(true)} returns a view for a contiguous
     * CPU tensor and a fresh copy otherwise, so a second call returns the same address only for a view.
     */
    static boolean isView(NDArray array, ByteBuffer buf) {
        if (!array.getDevice().equals(ai.djl.Device.cpu())) {
            return false;
        }
        ByteBuffer again = array.toByteBuffer(true);
        return again.isDirect() && Pointer.nativeValue(Native.getDirectBufferPointer(again))
                == Pointer.nativeValue(Native.getDirectBufferPointer(buf));
    }

    private static ByteBuffer directCopyOrView(NDArray array) {
        ByteBuffer buf = array.toByteBuffer(true);
        return buf.isDirect() ? buf : direct(buf.remaining()).put(buf).rewind();
    }
}
