package io.moco4j.util;

import ai.djl.Device;
import ai.djl.engine.Engine;

/** Parses the {@code --device} option: {@code cpu}, {@code gpu}, {@code gpu:N} or {@code auto}. */
public final class Devices {
    private Devices() {}

    public static Device parse(String spec) {
        String s = spec == null ? "auto" : spec.trim().toLowerCase(java.util.Locale.ROOT);
        int gpus = Engine.getInstance().getGpuCount();
        if (s.equals("auto")) {
            return gpus > 0 ? Device.gpu(0) : Device.cpu();
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
            if (id < 0 || id >= gpus) {
                throw new UserException("--device " + spec + " asks for GPU " + id + " but " + gpus
                        + " GPU(s) are visible to libtorch; use --device cpu, or install the CUDA libtorch");
            }
            return Device.gpu(id);
        }
        throw new UserException("--device " + spec + " is not valid; use cpu, gpu, gpu:N or auto");
    }
}
