package io.moco4j.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

    private record Result(int code, String err) {}

    private static Result launcher(Path torchLib) throws IOException, InterruptedException {
        return launcher("MOCO4J_TORCH_LIB", torchLib.toString());
    }

    /** Runs {@code ./moco4j --version} with one variable set; only checks that fail before Java starts are tested. */
    private static Result launcher(String variable, String value) throws IOException, InterruptedException {
        Path script = Path.of("moco4j").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(script), "the launcher is beside pom.xml");
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), "--version");
        pb.environment().remove("MOCO4J_TORCH_LIB");
        pb.environment().remove("MOCO4J_MALLOC");
        pb.environment().put(variable, value);
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher's checks run before anything slow");
        return new Result(p.exitValue(), err);
    }
}
