package io.moco4j.precision;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Whether a device computes bf16 natively, for {@code --precision auto}. Without native support a bf16 matrix
 * product is emulated through float32 and is slower than float32 itself, so {@code auto} then stays float32.
 */
final class Hardware {
    /** x86 CPU flags of native bf16 dot products (AVX-512 BF16 on Cooper Lake / Zen 4 and later, AMX on Sapphire Rapids). */
    static final Set<String> CPU_BF16_FLAGS = Set.of("avx512_bf16", "amx_bf16");
    /** Ampere (8.0) introduced bf16 tensor cores. */
    static final int MIN_CUDA_CAPABILITY = 80;

    private static final Pattern WORDS = Pattern.compile("\\s+");

    private Hardware() {}

    static boolean nativeBf16(Device device) {
        if (device.isGpu()) {
            return cudaCapability(device.getDeviceId()) >= MIN_CUDA_CAPABILITY;
        }
        return cpuFlagsHaveBf16(cpuinfo());
    }

    /** True when a {@code flags} line of /proc/cpuinfo text names one of {@link #CPU_BF16_FLAGS}. */
    static boolean cpuFlagsHaveBf16(String cpuinfo) {
        for (String line : cpuinfo.split("\n")) {
            String l = line.toLowerCase(Locale.ROOT);
            if (!l.startsWith("flags")) {
                continue;
            }
            int colon = l.indexOf(':');
            for (String flag : WORDS.split(l.substring(colon + 1).trim())) {
                if (CPU_BF16_FLAGS.contains(flag)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * System property naming a file read instead of /proc/cpuinfo: lets tests (and a user who knows better than the
     * flags) decide what {@code auto} sees, in any process, without touching the machine.
     */
    static final String CPUINFO_PROPERTY = "moco4j.cpuinfo";

    private static String cpuinfo() {
        try {
            return Files.readString(Path.of(System.getProperty(CPUINFO_PROPERTY, "/proc/cpuinfo")));
        } catch (IOException | RuntimeException e) {
            return ""; // not Linux: no flags to read, so auto stays fp32
        }
    }

    /** Compute capability x 10 (e.g. 80 for 8.0), or 0 when it cannot be read. */
    private static int cudaCapability(int gpu) {
        try {
            return Integer.parseInt(CudaUtils.getComputeCapability(gpu));
        } catch (RuntimeException | LinkageError e) {
            return 0;
        }
    }
}
