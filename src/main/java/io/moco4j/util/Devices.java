package io.moco4j.util;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import java.util.Locale;

/**
 * Parses the {@code --device} option: {@code cpu}, {@code gpu}, {@code gpu:N} or {@code auto}.
 *
 * <p>A GPU needs two things that can be missing independently: a libtorch built with CUDA (the one bundled from Maven
 * Central is CPU-only; a local PyTorch 2.7.1 CUDA build is used through {@code MOCO4J_TORCH_LIB}, see the README), and
 * a GPU that libtorch sees. DJL counts GPUs through the CUDA driver, not through libtorch, so a machine with a GPU and
 * the CPU libtorch reports GPUs that libtorch cannot use; the libtorch's own CUDA capability is checked as well.
 */
public final class Devices {
    /** The launcher variable that points MoCo4J at a local PyTorch build's libraries (read by ./moco4j). */
    public static final String TORCH_LIB_VARIABLE = "MOCO4J_TORCH_LIB";

    private Devices() {}

    public static Device parse(String spec) {
        Engine engine;
        try {
            engine = Engine.getInstance();
        } catch (EngineException e) {
            throw new UserException(cannotLoad(System.getenv("PYTORCH_LIBRARY_PATH"), e), e);
        }
        return resolve(spec, engine.getGpuCount(), engine.hasCapability("CUDA"), libtorchPath());
    }

    /**
     * The device for {@code spec} given what the machine offers: {@code gpus} visible to the CUDA driver, whether the
     * loaded libtorch ({@code libtorch}, for messages) has CUDA. {@code auto} is the first GPU only when both hold.
     */
    static Device resolve(String spec, int gpus, boolean libtorchCuda, String libtorch) {
        String s = spec == null ? "auto" : spec.trim().toLowerCase(Locale.ROOT);
        if (s.equals("auto")) {
            if (gpus > 0 && !libtorchCuda) {
                System.err.println("moco4j: note: " + gpus + " GPU(s) visible but the libtorch in use is CPU-only; training on"
                        + " the CPU (for the GPU: " + TORCH_LIB_VARIABLE + "=/path/to/site-packages/torch/lib ./moco4j ..., README 'GPUs')");
            }
            return gpus > 0 && libtorchCuda ? Device.gpu(0) : Device.cpu();
        }
        if (s.equals("cpu")) {
            return Device.cpu();
        }
        if (s.equals("gpu") || s.startsWith("gpu:")) {
            int id = 0;
            if (s.startsWith("gpu:")) {
                try {
                    id = Integer.parseInt(s.substring(4));
                } catch (NumberFormatException e) {
                    throw new UserException("--device " + spec + " is not valid; use cpu, gpu, gpu:N or auto");
                }
            }
            if (!libtorchCuda) {
                throw new UserException("--device " + spec + ": the libtorch in use (" + libtorch + ") is built without CUDA;"
                        + " point MoCo4J at a PyTorch 2.7.1 CUDA build: " + TORCH_LIB_VARIABLE
                        + "=/path/to/site-packages/torch/lib ./moco4j ... (README 'GPUs'), or use --device cpu");
            }
            if (gpus == 0) {
                throw new UserException("--device " + spec + ": libtorch has CUDA but sees no GPU; check the driver"
                        + " (nvidia-smi) and CUDA_VISIBLE_DEVICES, or use --device cpu");
            }
            if (id < 0 || id >= gpus) {
                throw new UserException("--device " + spec + " asks for GPU " + id + " but " + gpus
                        + " GPU(s) are visible to libtorch; use gpu:0 to gpu:" + (gpus - 1) + " or --device cpu");
            }
            return Device.gpu(id);
        }
        throw new UserException("--device " + spec + " is not valid; use cpu, gpu, gpu:N or auto");
    }

    /** One line for a libtorch that would not load (most often a local build of another version or ABI). */
    static String cannotLoad(String overridePath, Throwable cause) {
        String why = cause.getCause() != null ? cause.getCause().getMessage() : cause.getMessage();
        if (overridePath == null) {
            return "libtorch did not load (" + why + "); rebuild with ./mvnw -B package, or report it";
        }
        return "the libtorch in " + overridePath + " (PYTORCH_LIBRARY_PATH, set from " + TORCH_LIB_VARIABLE + ") did not load ("
                + why + "); MoCo4J needs PyTorch 2.7.1 (CUDA 12.8 or CPU build): pip install torch==2.7.1 --index-url"
                + " https://download.pytorch.org/whl/cu128, and point " + TORCH_LIB_VARIABLE + " at its torch/lib";
    }

    private static String libtorchPath() {
        try {
            return ai.djl.pytorch.jni.LibUtils.getLibtorchPath();
        } catch (RuntimeException | LinkageError e) {
            return "unknown path";
        }
    }
}
