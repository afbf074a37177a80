package io.moco4j.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.moco4j.data.SampleSeeds;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class QueueCoverageTest {

    /**
     * Simulates the queue: shuffled epochs of batches, each step's keys enqueued after the step, and counts how
     * often an image's previous key is still among the last Q steps' keys when the image comes round again.
     */
    private static double simulate(int images, int batch, int queueSteps, int epochs, long seed) {
        int steps = images / batch;
        long[] lastStep = new long[images];
        java.util.Arrays.fill(lastStep, Long.MIN_VALUE / 2);
        long global = 0;
        long hits = 0;
        long seen = 0;
        SplittableRandom rng = new SplittableRandom(seed);
        for (int e = 0; e < epochs; e++) {
            int[] order = SampleSeeds.permutation(images, rng);
            for (int s = 0; s < steps; s++, global++) {
                for (int i = s * batch; i < (s + 1) * batch; i++) {
                    int img = order[i];
                    if (e > 0 && lastStep[img] >= 0) {
                        seen++;
                        if (global - lastStep[img] <= queueSteps) {
                            hits++;
                        }
                    }
                }
                for (int i = s * batch; i < (s + 1) * batch; i++) {
                    lastStep[order[i]] = global;
                }
            }
        }
        return (double) hits / seen;
    }

    @Test
    void formulaMatchesASimulatedQueue() {
        // 5000 images, batch 256, K 4096: the built-in set with the CIFAR demo's queue.
        assertEquals(simulate(4864, 256, 16, 200, 1), QueueCoverage.ownKeyFraction(19, 16), 0.01);
        assertEquals(simulate(1000, 10, 30, 60, 2), QueueCoverage.ownKeyFraction(100, 30), 0.01);
        assertEquals(simulate(400, 40, 12, 200, 3), QueueCoverage.ownKeyFraction(10, 12), 0.01, "queue longer than an epoch");
        assertEquals(1.0, simulate(400, 40, 19, 20, 4), 1e-12, "a queue of 2S - 1 steps always holds it");
        assertEquals(1.0, QueueCoverage.ownKeyFraction(10, 19));
        assertEquals(1.0, QueueCoverage.ownKeyFraction(10, 50));
        assertEquals(0.0, QueueCoverage.ownKeyFraction(10, 0));
    }

    @Test
    void warnsForSmallDataSetsOnlyAndSuggestsAQueueThatWouldNotWarn() {
        assertTrue(QueueCoverage.warning(4096, 256, 195, 50_000).isEmpty(), "CIFAR-10 with the demo's K 4096");
        assertTrue(QueueCoverage.warning(65_536, 256, 5004, 1_281_167).isEmpty(), "ImageNet with K 65536");
        String w = QueueCoverage.warning(4096, 256, 19, 5000).orElseThrow();
        assertTrue(w.contains("moco.queue_size 4096") && w.contains("38%") && w.contains("moco.queue_size=1280"), w);
        assertFalse(QueueCoverage.warning(1280, 256, 19, 5000).isPresent());
        assertTrue(QueueCoverage.warning(1536, 256, 19, 5000).isPresent());
    }
}
