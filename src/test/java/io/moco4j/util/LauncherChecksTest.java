package io.moco4j.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's (./moco4j) checks of its environment variables: a wrong value is one line naming the fix, given
 * before anything slow (building the jar, starting Java).
 */
class LauncherChecksTest {

    @Test
    void launcherRefusesAMallocLibraryThatIsNotThere(@TempDir Path dir) throws Exception {
        Result missing = launcher("MOCO4J_MALLOC", dir.resolve("libnothing.so").toString());
        assertEquals(2, missing.code, missing.err);
        assertTrue(missing.err.startsWith("error: MOCO4J_MALLOC=") && missing.err.contains("system")
                && missing.err.contains("libtcmalloc_minimal.so.4"), missing.err);
        assertEquals(1, missing.err.strip().lines().count(), missing.err);
    }

    /**
     * Without tcmalloc the launcher sets glibc to keep freed memory (one arena, no mmap, no trimming:
     * the page faults of BENCHMARKS.md's "glibc set to keep freed memory"), the user's own GLIBC_TUNABLES after ours
     * so that theirs win; {@code system} leaves glibc as it is. {@code MOCO4J_DRY_RUN} prints what would run.
     */
    @Test
    void launcherKeepsGlibcFromReturningTheStepsBuffersUnlessTold() throws Exception {
        String tuned = "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184";
        Result glibc = launcher(Map.of("MOCO4J_MALLOC", "glibc", "MOCO4J_DRY_RUN", "1", "GLIBC_TUNABLES", "glibc.malloc.arena_max=2"));
        assertEquals(0, glibc.code, glibc.err);
        assertTrue(glibc.out.contains("GLIBC_TUNABLES=" + tuned + ":glibc.malloc.arena_max=2\n"), glibc.out);

        Result system = launcher(Map.of("MOCO4J_MALLOC", "system", "MOCO4J_DRY_RUN", "1"));
        assertEquals(0, system.code, system.err);
        assertTrue(system.out.startsWith("LD_PRELOAD= GLIBC_TUNABLES=\n"), system.out);

        Result auto = launcher(Map.of("MOCO4J_DRY_RUN", "1"));
        assertEquals(0, auto.code, auto.err);
        assertTrue(auto.out.contains("libtcmalloc_minimal.so.4 GLIBC_TUNABLES=\n") || auto.out.contains("GLIBC_TUNABLES=" + tuned + "\n"),
                auto.out);
    }

    /** The launcher refuses, in one line and before building or starting Java, a folder without libtorch or of another version. */
    @Test
    void launcherRefusesAWrongTorchFolder(@TempDir Path dir) throws Exception {
        Path lib = Files.createDirectories(dir.resolve("torch/lib"));
        Result none = launcher(lib);
        assertEquals(2, none.code, none.err);
        assertTrue(none.err.startsWith("error: MOCO4J_TORCH_LIB=") && none.err.contains("no libtorch.so"), none.err);

        Files.writeString(lib.resolve("libtorch.so"), "");
        Files.writeString(dir.resolve("torch/version.py"), "__version__ = '2.5.1+cu124'\ncuda = '12.4'\n");
        Result old = launcher(dir.resolve("torch")); // the package folder works as well as its lib/
        assertEquals(2, old.code, old.err);
        assertTrue(old.err.contains("PyTorch 2.5.1+cu124") && old.err.contains("pip install torch==2.7.1"), old.err);
        assertEquals(1, old.err.strip().lines().count(), old.err);

        Files.writeString(dir.resolve("torch/version.py"), "__version__ = '2.7.1+rocm6.3'\n");
        Result rocm = launcher(lib);
        assertEquals(2, rocm.code, rocm.err);
        assertTrue(rocm.err.contains("ROCm"), rocm.err);
    }

    private record Result(int code, String out, String err) {}

    private static Result launcher(Path torchLib) throws IOException, InterruptedException {
        return launcher("MOCO4J_TORCH_LIB", torchLib.toString());
    }

    /** Runs {@code ./moco4j --version} with one variable set; only checks that fail before Java starts are tested. */
    private static Result launcher(String variable, String value) throws IOException, InterruptedException {
        return launcher(Map.of(variable, value));
    }

    private static Result launcher(Map<String, String> variables) throws IOException, InterruptedException {
        Path script = Path.of("moco4j").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(script), "the launcher is beside pom.xml");
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), "--version");
        for (String v : List.of("MOCO4J_TORCH_LIB", "MOCO4J_MALLOC", "MOCO4J_DRY_RUN", "GLIBC_TUNABLES", "LD_PRELOAD")) {
            pb.environment().remove(v);
        }
        pb.environment().putAll(variables);
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        String err = read(p.getErrorStream());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher's checks run before anything slow");
        return new Result(p.exitValue(), out.join(), err);
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
