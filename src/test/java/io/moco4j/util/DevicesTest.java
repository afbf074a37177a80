package io.moco4j.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Devices} and the launcher's MOCO4J_TORCH_LIB checks (the GPU set-up that cannot run on a CPU machine). */
class DevicesTest {

    @Test
    void gpuWithTheBundledCpuLibtorchNamesTheFix() {
        Assumptions.assumeFalse(Engine.getInstance().hasCapability("CUDA"), "this machine's libtorch has CUDA");
        UserException e = assertThrows(UserException.class, () -> Devices.parse("gpu"));
        assertTrue(e.getMessage().contains("built without CUDA") && e.getMessage().contains("MOCO4J_TORCH_LIB="), e.getMessage());
        assertEquals(Device.cpu(), Devices.parse("auto"));
    }

    @Test
    void aVisibleGpuIsNotUsedThroughACpuOnlyLibtorch() {
        // DJL counts GPUs through the driver: a GPU machine running the bundled CPU libtorch reports gpus > 0
        assertEquals(Device.cpu(), Devices.resolve("auto", 2, false, "/x"));
        UserException e = assertThrows(UserException.class, () -> Devices.resolve("gpu:1", 2, false, "/x"));
        assertTrue(e.getMessage().contains("built without CUDA"), e.getMessage());
        assertEquals(Device.gpu(0), Devices.resolve("auto", 2, true, "/x"));
        assertEquals(Device.gpu(1), Devices.resolve("gpu:1", 2, true, "/x"));
        assertTrue(assertThrows(UserException.class, () -> Devices.resolve("gpu", 0, true, "/x")).getMessage()
                .contains("sees no GPU"));
        assertTrue(assertThrows(UserException.class, () -> Devices.resolve("gpu:2", 2, true, "/x")).getMessage()
                .contains("gpu:0 to gpu:1"));
        assertThrows(UserException.class, () -> Devices.resolve("tpu", 2, true, "/x"));
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
        Path script = Path.of("moco4j").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(script), "the launcher is beside pom.xml");
        ProcessBuilder pb = new ProcessBuilder("bash", script.toString(), "--version");
        pb.environment().put("MOCO4J_TORCH_LIB", torchLib.toString());
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher's checks run before anything slow");
        return new Result(p.exitValue(), err);
    }
}
