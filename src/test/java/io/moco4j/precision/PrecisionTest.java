package io.moco4j.precision;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.moco4j.config.ConfigLoader;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class PrecisionTest {
    @Test
    void parsesTheFourNamesAndRefusesOthersInOneLine() {
        assertEquals(Precision.FP32, Precision.parse("fp32"));
        assertEquals(Precision.BF16, Precision.parse(" BF16 "));
        assertEquals(Precision.FP16, Precision.parse("float16"));
        assertEquals(Precision.AUTO, Precision.parse("auto"));
        UserException e = assertThrows(UserException.class, () -> Precision.parse("int8"));
        assertTrue(e.getMessage().contains("fp32, bf16, fp16 or auto"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void autoIsBf16ExactlyWhereTheCpuFlagsSayNativeBf16() {
        assertTrue(Hardware.cpuFlagsHaveBf16("processor : 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n"));
        assertTrue(Hardware.cpuFlagsHaveBf16("flags : fpu amx_bf16 amx_tile\n"));
        assertFalse(Hardware.cpuFlagsHaveBf16("flags : fpu sse avx2 avx512f avx512_vnni\n"), "AVX-512 alone emulates bf16");
        assertFalse(Hardware.cpuFlagsHaveBf16("model name : avx512_bf16 in a name is not a flag\n"));
        boolean here;
        try {
            here = Hardware.cpuFlagsHaveBf16(Files.readString(Path.of("/proc/cpuinfo")));
        } catch (java.io.IOException e) {
            here = false;
        }
        assertEquals(here ? Precision.BF16 : Precision.FP32, Precision.AUTO.resolve(Device.cpu()));
        assertEquals(Precision.FP16, Precision.FP16.resolve(Device.cpu()), "only auto is resolved");
    }

    @Test
    void trainPrecisionIsAValidatedSettingDefaultingToFp32() {
        assertEquals("fp32", ConfigLoader.defaults().preset("cpu-small").build().train().precision());
        assertEquals("bf16", ConfigLoader.defaults().preset("cpu-small").set("train.precision=bf16").build().train().precision());
        UserException e = assertThrows(UserException.class,
                () -> ConfigLoader.defaults().preset("cpu-small").set("train.precision=bf8").build());
        assertTrue(e.getMessage().contains("train.precision"), e.getMessage());
    }

    @Test
    void theSupportProbeAcceptsBf16HereAndFp32Always() {
        assertEquals(Precision.FP32, AutocastSupport.require(Device.cpu(), Precision.FP32));
        assertEquals(Precision.BF16, AutocastSupport.require(Device.cpu(), Precision.BF16));
    }
}
