package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The parts of the dist package that need no second process. */
class LocalPiecesTest {

    @Test
    void singleProcessCollectivesAreTheIdentity() {
        Collectives c = SingleProcess.INSTANCE;
        float[] v = {1, 2};
        c.allReduceMean(v);
        assertArrayEquals(new float[] {1, 2}, v);
        assertArrayEquals(new long[] {4, 5}, c.allGather(new long[] {4, 5}));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new Shape(2, 2));
            NDArray g = c.allGather(a);
            assertEquals(new Shape(2, 2), g.getShape());
            assertArrayEquals(a.toFloatArray(), g.toFloatArray());
            c.allReduceSum(a.transpose());
            assertArrayEquals(new float[] {1, 2, 3, 4}, a.toFloatArray());
        }
    }

    @Test
    void onlyContiguousCpuArraysAreReducedInTheirOwnMemory() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.arange(6f).reshape(2, 3);
            assertTrue(BufferCollectives.isView(a, a.toByteBuffer(true)));
            NDArray t = a.transpose();
            assertFalse(BufferCollectives.isView(t, t.toByteBuffer(true)));
        }
    }

    @Test
    void gradientBucketsStayUnderTheLimitUnlessOneTensorIsLarger() {
        // 100-byte buckets: floats of 10, 10, 5 | 30 (alone, over the limit) | 20, 5
        List<int[]> b = GradientAverager.buckets(new long[] {10, 10, 5, 30, 20, 5}, 100);
        assertEquals(3, b.size());
        assertArrayEquals(new int[] {0, 1, 2}, b.get(0));
        assertArrayEquals(new int[] {3}, b.get(1));
        assertArrayEquals(new int[] {4, 5}, b.get(2));
    }

    @Test
    void coreShareSplitsTheCoresOverLocalRanks() {
        assertEquals(4, CoreShare.of(8, 2).threads());
        assertEquals(1, CoreShare.of(2, 2).threads());
        assertEquals(1, CoreShare.of(1, 2).threads());
        assertEquals(3, CoreShare.of(7, 2).threads());
    }

    @Test
    void withoutMpirunTheLauncherSaysWhatToInstall(@org.junit.jupiter.api.io.TempDir Path empty) throws Exception {
        io.moco4j.util.UserException e = assertThrows(io.moco4j.util.UserException.class,
                () -> MpiLauncher.requireMpirun(empty.toString()));
        assertTrue(e.getMessage().contains("apt-get install openmpi-bin"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Path fake = empty.resolve("mpirun");
        java.nio.file.Files.writeString(fake, "#!/bin/sh\n");
        fake.toFile().setExecutable(true);
        assertEquals(fake, MpiLauncher.requireMpirun("/nonexistent" + java.io.File.pathSeparator + empty));
    }

    @Test
    void mpirunCommandUnbindsTheRanks() {
        List<String> cmd = MpiLauncher.command(Path.of("/usr/bin/mpirun"), 2, List.of("java", "-cp", "x", "Main"));
        assertEquals("/usr/bin/mpirun", cmd.get(0));
        int np = cmd.indexOf("-np");
        assertEquals("2", cmd.get(np + 1));
        assertEquals("none", cmd.get(cmd.indexOf("--bind-to") + 1));
        assertEquals(List.of("java", "-cp", "x", "Main"), cmd.subList(np + 2, cmd.size()));
        assertEquals(MpiLauncher.isRoot(), cmd.contains("--allow-run-as-root"));
        assertThrows(io.moco4j.util.UserException.class, () -> MpiLauncher.command(Path.of("mpirun"), 0, List.of()));
    }
}
