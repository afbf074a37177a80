package io.moco4j.dist;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Forks {@code mpirun -np 2} running {@link MpiRankMain} (MPI can start only once per JVM). Skipped, with the
 * reason, when Open MPI's mpirun is not on PATH ({@code .ci/run} installs {@code openmpi-bin}).
 */
class MpiJobTest {
    private static Path mpirun;

    @BeforeAll
    static void needMpirun() {
        Optional<Path> found = MpiLauncher.findMpirun();
        Assumptions.assumeTrue(found.isPresent(),
                "mpirun is not on PATH: multi-process tests skipped (apt-get install openmpi-bin)");
        mpirun = found.get();
    }

    record Job(int exit, String output, double seconds) {}

    /** Runs the scenario on 2 ranks; kills the whole job if it outlives {@code timeoutSeconds}. */
    static Job run(long timeoutSeconds, List<String> jvmOptions, String... args) throws IOException, InterruptedException {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> java = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-Dai.djl.offline=true"));
        java.addAll(jvmOptions);
        java.addAll(List.of("-cp", cp, MpiRankMain.class.getName()));
        java.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(MpiLauncher.command(mpirun, 2, java)).redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try {
                out.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                out.append("(output lost: ").append(e).append(')');
            }
        });
        reader.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            reader.join(5000);
            fail("the 2-rank job did not end within " + timeoutSeconds + " s:\n" + out);
        }
        reader.join(10_000);
        return new Job(p.exitValue(), out.toString(), (System.nanoTime() - t0) / 1e9);
    }

    @Test
    void collectivesShuffleGatherBroadcastAndGradientsOnTwoRanks() throws Exception {
        // maxCount 7: every buffer longer than 7 elements goes through the split-call path
        Job job = run(300, List.of("-Dai.djl.pytorch.num_threads=1"), "correctness", "7");
        assertEquals(0, job.exit(), job.output());
        for (String check : List.of("allreduce-sum-floats", "allreduce-mean-floats", "allgather-floats",
                "allgather-longs", "broadcast", "allreduce-ndarray-contiguous", "allreduce-ndarray-strided",
                "allgather-ndarray", "broadcast-ndarray", "split-calls", "other-thread-refused", "barrier",
                "cross-process-shuffle", "key-gather", "state-broadcast", "gradient-average")) {
            for (int rank = 0; rank < 2; rank++) {
                assertTrue(job.output().contains("ok " + check + " rank " + rank + "\n"),
                        check + " on rank " + rank + ":\n" + job.output());
            }
        }
    }

    @Test
    void oneV2StepOnTwoRanksEqualsTheSingleProcessStepAndQueuesStayIdentical() throws Exception {
        Job job = run(300, List.of("-Dai.djl.pytorch.num_threads=1"), "v2step");
        assertEquals(0, job.exit(), job.output());
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok v2-step-equals-single-process rank " + rank + "\n"), job.output());
            assertTrue(job.output().contains("ok queues-identical rank " + rank + "\n"), job.output());
        }
    }

    /**
     * Issue 21: 2 ranks x 8 images in bf16 against 1 process x 16 in bf16, within the reversed-batch floor measured in
     * bf16 in the same run (V2StepCheck); gradients are averaged in float32, split BN and the key gather under autocast.
     */
    @Test
    void oneBf16V2StepOnTwoRanksEqualsTheSingleProcessBf16Step() throws Exception {
        Job job = run(300, List.of("-Dai.djl.pytorch.num_threads=1"), "v2step", "bf16");
        assertEquals(0, job.exit(), job.output());
        System.out.println(job.output().lines().filter(l -> l.startsWith("v2 step")).reduce("", (a, b) -> a + b + "\n"));
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok v2-step-equals-single-process rank " + rank + "\n"), job.output());
            assertTrue(job.output().contains("ok queues-identical rank " + rank + "\n"), job.output());
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"resnet", "vit"})
    void v3StepsOnTwoRanksWithSyncBnEqualTheSingleProcessSteps(String backbone) throws Exception {
        // Default heap on purpose: before SyncBatchNorm stopped putting a DJL scalar (a Java direct buffer) into the
        // autograd graph, this check failed in 3 of 4 runs with -Xmx1g and passed with a large young generation.
        Job job = run(300, List.of("-Dai.djl.pytorch.num_threads=1"), "v3step", backbone);
        assertEquals(0, job.exit(), job.output());
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok v3-" + backbone + "-steps-equal-single-process rank " + rank + "\n"),
                    job.output());
        }
    }

    /**
     * Issue 21: the first v3 step in bf16 on 2 ranks with SyncBN against one process in bf16, within the floor of the
     * one-process bf16 step on the batch in another order (V3StepCheck). Skipped without native bf16 (then libtorch
     * emulates it and the floor says nothing about the kernels users run).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"resnet", "vit"})
    void bf16V3StepsOnTwoRanksWithSyncBnEqualTheSingleProcessBf16Steps(String backbone) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.moco4j.precision.Precision.AUTO.resolve(ai.djl.Device.cpu())
                == io.moco4j.precision.Precision.BF16, "this CPU has no native bf16 (avx512_bf16 / amx_bf16)");
        Job job = run(300, List.of("-Dai.djl.pytorch.num_threads=1"), "v3step", backbone, "bf16");
        assertEquals(0, job.exit(), job.output());
        System.out.println(job.output().lines().filter(l -> l.startsWith("v3 " + backbone)).reduce("", (a, b) -> a + b + "\n"));
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok v3-" + backbone + "-bf16-steps-equal-single-process rank " + rank + "\n"),
                    job.output());
        }
    }

    @Test
    void aRunStoppedAndResumedOnTwoRanksEndsAsTheStraightRun(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Job job = run(400, List.of("-Dai.djl.pytorch.num_threads=1"), "resume", dir.toString());
        assertEquals(0, job.exit(), job.output());
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok resume-continues-exactly rank " + rank + "\n"), job.output());
        }
    }

    @Test
    void aV2RunResumedFromTwoRanksOntoOneAndBackMatchesTheStraightRuns(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        Job job = run(400, List.of("-Dai.djl.pytorch.num_threads=1"), "resume-ranks", dir.toString());
        assertEquals(0, job.exit(), job.output());
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("ok resume-2-1-2-ranks rank " + rank + "\n"), job.output());
        }
    }

    @Test
    void eachRankGetsItsShareOfTheCores() throws Exception {
        Job job = run(180, List.of(), "threads");
        assertEquals(0, job.exit(), job.output());
        int cores = Runtime.getRuntime().availableProcessors();
        int share = Math.max(1, cores / 2);
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(job.output().contains("threads rank " + rank + " before "), job.output());
            assertTrue(job.output().matches("(?s).*threads rank " + rank + " before \\d+ after " + share + " share "
                    + share + " cores " + cores + "\n.*"), job.output());
            assertTrue(job.output().contains("threads rank " + rank + " all-cores " + cores + " libtorch " + cores + "\n"),
                    job.output());
            assertTrue(job.output().contains("rank " + rank + " of 2 (local " + rank + " of 2), Open MPI: " + share
                    + " intra-op thread(s)"), job.output());
        }
    }

    @Test
    void aKilledRankEndsTheJobNamingIt() throws Exception {
        Job job = run(120, List.of("-Dai.djl.pytorch.num_threads=1"), "die");
        assertNotEquals(0, job.exit(), job.output());
        assertTrue(job.seconds() < 60 + 20, "took " + job.seconds() + " s (JVM start included)");
        assertTrue(job.output().contains("rank 1"), job.output());
        assertTrue(job.output().contains("signal 9"), job.output());
        assertFalse(job.output().contains("passed a barrier"), job.output());
    }

    @Test
    void aHungRankIsEndedByTheWatchdog() throws Exception {
        Job job = run(120, List.of("-Dai.djl.pytorch.num_threads=1", "-D" + OpenMpi.TIMEOUT_PROPERTY + "=3"), "hang");
        assertNotEquals(0, job.exit(), job.output());
        assertTrue(job.output().contains("rank 0 of 2: barrier waited"), job.output());
        assertFalse(job.output().contains("passed a barrier"), job.output());
    }

    @Test
    void anExceptionOnOneRankStopsTheJobNamingTheRank() throws Exception {
        Job job = run(120, List.of("-Dai.djl.pytorch.num_threads=1"), "exception");
        assertNotEquals(0, job.exit(), job.output());
        assertTrue(job.output().contains("rank 1 of 2 failed: java.lang.IllegalStateException: simulated failure on rank 1"),
                job.output());
        assertFalse(job.output().contains("passed a barrier"), job.output());
    }
}
