package io.moco4j.testutil;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.LibUtils;
import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * Runs code with libtorch's oneDNN (mkldnn) kernels switched off ({@code torch.backends.mkldnn.enabled = False}):
 * convolutions then run libtorch's native im2col + GEMM kernels, the same computation in another summation order.
 * The spread between the two is the noise floor of a float comparison of convolution results. Reached through JNA:
 * {@code at::globalContext()} and {@code at::Context::setUserEnabledMkldnn(bool)} of libtorch_cpu (a global flag, not
 * per thread: restored in {@code finally}).
 */
public final class OneDnn {
    private OneDnn() {}

    public static <T> T disabledWhile(Supplier<T> body) {
        Engine.getEngine("PyTorch");
        NativeLibrary lib = NativeLibrary.getInstance(
                Path.of(LibUtils.getLibtorchPath()).resolve(System.mapLibraryName("torch_cpu")).toString());
        Pointer context = lib.getFunction("_ZN2at13globalContextEv").invokePointer(new Object[0]);
        Function set = lib.getFunction("_ZN2at7Context20setUserEnabledMkldnnEb");
        boolean before = (lib.getFunction("_ZNK2at7Context17userEnabledMkldnnEv").invokeInt(new Object[] {context}) & 0xFF) != 0;
        set.invokeVoid(new Object[] {context, 0});
        try {
            return body.get();
        } finally {
            set.invokeVoid(new Object[] {context, before ? 1 : 0});
        }
    }
}
