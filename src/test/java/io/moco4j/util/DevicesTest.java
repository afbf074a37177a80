package io.moco4j.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@link Devices} (the GPU set-up that cannot run on a CPU machine; the launcher's own checks: {@link LauncherChecksTest}). */
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
}
