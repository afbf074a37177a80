package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The JNA binding of libtorch's {@code contiguous(memory_format)}: layout, values, autograd, fallback, no leak. */
class MemoryFormatTest {

    @Test
    void channelsLastHasNhwcStridesAndTheSameValues() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.arange(2 * 3 * 4 * 5).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).reshape(2, 3, 4, 5);
            assertArrayEquals(new long[] {60, 20, 5, 1}, MemoryFormat.strides(x));
            assertFalse(MemoryFormat.isChannelsLast(x));
            NDArray y = MemoryFormat.channelsLast(x);
            assertNotSame(x, y);
            assertSame(m, y.getManager());
            // NHWC in memory: channel stride 1, width stride C, height stride C*W, batch stride C*H*W
            assertArrayEquals(new long[] {60, 1, 15, 3}, MemoryFormat.strides(y));
            assertTrue(MemoryFormat.isChannelsLast(y));
            assertEquals(x.getShape(), y.getShape());
            assertArrayEquals(x.toFloatArray(), y.toFloatArray()); // DJL reads in logical (NCHW) order
            assertArrayEquals(new long[] {60, 20, 5, 1}, MemoryFormat.strides(x), "the input is left as it was");
            NDArray back = MemoryFormat.contiguous(y);
            assertArrayEquals(new long[] {60, 20, 5, 1}, MemoryFormat.strides(back));
            assertArrayEquals(x.toFloatArray(), back.toFloatArray());
        }
    }

    @Test
    void otherRanksAreReturnedUnchanged() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray v = m.ones(new Shape(2, 3));
            assertSame(v, MemoryFormat.channelsLast(v)); // libtorch would throw: channels_last needs rank 4
        }
    }

    @Test
    void gradientsFlowThroughTheConversion() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.randomNormal(new Shape(2, 3, 4, 4));
            NDArray w = m.randomNormal(new Shape(2, 3, 4, 4));
            x.setRequiresGradient(true);
            try (GradientCollector gc = ai.djl.engine.Engine.getInstance().newGradientCollector()) {
                NDArray y = MemoryFormat.channelsLast(x);
                gc.backward(y.mul(w).sum());
            }
            // d/dx sum(x * w) = w, exactly, whatever the layout
            assertArrayEquals(w.toFloatArray(), x.getGradient().toFloatArray());
        }
    }

    @Test
    void aMissingSymbolFallsBackToTheInput() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(1, 3, 2, 2));
            // a libtorch that exports neither contiguous(memory_format) nor stride under these names
            MemoryFormat.useOps(NativeOps.renamed(name -> name.equals(NativeOps.CONTIGUOUS) || name.equals(NativeOps.STRIDE)
                    ? "_ZN2at4_ops18no_such_operator4callEv" : name));
            try {
                assertFalse(MemoryFormat.available());
                assertSame(x, MemoryFormat.channelsLast(x));
                assertNull(MemoryFormat.strides(x));
            } finally {
                MemoryFormat.useOps(null);
            }
            assertTrue(MemoryFormat.available());
            assertNotSame(x, MemoryFormat.channelsLast(x));
        }
    }

    /**
     * 2,000 conversions of a 1 MiB array, each closed: leaked results would hold 2 GiB; the resident set may grow by
     * allocator slack only. Also exercises DJL's {@code delete} of a handle allocated by our {@code operator new}.
     */
    @Test
    void closedResultsFreeTheirMemory() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(16, 16, 32, 32));
            for (int i = 0; i < 50; i++) {
                MemoryFormat.channelsLast(x).close();
            }
            long before = rssKb();
            for (int i = 0; i < 2000; i++) {
                NDArray y = MemoryFormat.channelsLast(x);
                y.close();
            }
            long grewMb = (rssKb() - before) / 1024;
            assertTrue(grewMb < 256, "resident set grew by " + grewMb + " MB over 2000 closed 1 MiB conversions");
        }
    }

    private static long rssKb() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
