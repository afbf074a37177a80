package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Guard for the {@code cpu-vit} bf16 SIGSEGV seen once at batch 4 (BENCHMARKS.md issue 21, "ViT under bf16": inside
 * the backward of step 0, frame {@code at::accelerator::getAccelerator} from {@code torchBackward}). Not reproduced
 * on 2026-12-06 (docs/ISSUES-FOUND.md): this runs the same model's bf16 steps at batch 4 in a forked JVM, so a native
 * crash fails this test instead of killing surefire, and asserts finite losses.
 */
class VitBf16SmallBatchTest {
    @Test
    void cpuVitBf16StepsAtBatch4RunInAForkedJvm() throws IOException, InterruptedException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Hardware.nativeBf16(ai.djl.Device.cpu()),
                "bf16 autocast on a CPU without native bf16 is not what this guards");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g", "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=2", "-cp", cp,
                VitBf16StepMain.class.getName(), "4", "2")).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the forked steps finished");
        assertEquals(0, p.exitValue(), "the forked JVM ended normally (a SIGSEGV exits 134):\n" + out);
        List<String> steps = out.lines().filter(l -> l.startsWith("STEP ")).toList();
        assertEquals(2, steps.size(), out);
        for (String s : steps) {
            float loss = Float.parseFloat(s.split(" ")[2]);
            assertTrue(Float.isFinite(loss) && loss > 0, s);
        }
    }
}
