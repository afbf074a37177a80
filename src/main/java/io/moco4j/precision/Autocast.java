package io.moco4j.precision;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.LibUtils;
import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import io.moco4j.util.UserException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * libtorch's own autocast, the code path {@code torch.autocast} runs, reached through JNA (DJL 0.36 has no API for
 * it; nothing to compile). Which op runs in which dtype is then PyTorch's decision: under bf16 autocast,
 * convolutions, linear layers and matrix products compute in bf16 from float32 weights, while the ops on
 * libtorch's float32 list stay float32.
 *
 * <p>{@link #enter} and {@link #close} do what {@code torch.autocast.__enter__}/{@code __exit__} do for one device
 * type: remember the previous enabled flag, dtype and cache flag, set the dtype, increment the nesting counter,
 * enable; on close disable-or-restore, and when the nesting counter drops to 0 clear the cache of cast weights.
 * The state is libtorch's and per thread (like DJL's grad mode): a scope must be closed on the thread that
 * opened it, which is checked. {@link #disabled} is {@code torch.autocast(enabled=False)} inside an enabled region.
 *
 * <p>Calling convention (measured, docs in /work/coord/bf16-autocast.md): every C++ {@code bool} and enum
 * argument is passed as an {@code Integer}; {@code c10::DeviceType} CPU = 0, CUDA = 1; {@code c10::ScalarType}
 * BFloat16 = 15, Half = 5. {@code bool} and the int8-backed enums are returned in the low byte.
 */
public final class Autocast implements AutoCloseable {
    static final int DEVICE_CPU = 0;
    static final int DEVICE_CUDA = 1;
    static final int SCALAR_HALF = 5;
    static final int SCALAR_BFLOAT16 = 15;

    /** Set once the first scope is opened (see {@link #isOn}). */
    private static volatile boolean everEntered;

    /** The scope of a float32 run: touches nothing in libtorch. */
    private static final Autocast NONE = new Autocast();

    private final boolean active;
    private final int deviceType;
    private final boolean previousEnabled;
    private final int previousDtype;
    private final boolean previousCacheEnabled;
    private final Thread owner;
    private boolean closed;

    private Autocast() {
        active = false;
        deviceType = DEVICE_CPU;
        previousEnabled = false;
        previousDtype = 0;
        previousCacheEnabled = false;
        owner = null;
    }

    private Autocast(int deviceType, boolean enable, int dtype) {
        Symbols s = Symbols.get();
        everEntered = true;
        this.active = true;
        this.deviceType = deviceType;
        this.owner = Thread.currentThread();
        this.previousCacheEnabled = s.isCacheEnabled();
        this.previousEnabled = s.isEnabled(deviceType);
        this.previousDtype = s.getDtype(deviceType);
        s.setEnabled(deviceType, enable);
        if (enable) {
            s.setDtype(deviceType, dtype);
        }
        s.incrementNesting();
        s.setCacheEnabled(true);
    }

    /**
     * Autocast to {@code precision} (bf16 or fp16; {@code auto} is resolved on {@code device}) for the device type
     * of {@code device} on this thread until the scope is closed; fp32 returns a scope that does nothing.
     */
    public static Autocast enter(Device device, Precision precision) {
        Precision p = precision.resolve(device);
        if (!p.mixed()) {
            return NONE;
        }
        return new Autocast(deviceType(device), true, p == Precision.BF16 ? SCALAR_BFLOAT16 : SCALAR_HALF);
    }

    /**
     * A region without autocast inside an autocast region ({@code torch.autocast(device, enabled=False)}): ops run
     * in their inputs' dtypes. Touches nothing in libtorch when {@code precision} is fp32 (nothing to disable).
     */
    public static Autocast disabled(Device device, Precision precision) {
        if (!precision.resolve(device).mixed()) {
            return NONE;
        }
        return new Autocast(deviceType(device), false, 0);
    }

    /** Whether autocast is on for {@code device}'s type on this thread. */
    public static boolean isEnabled(Device device) {
        return Symbols.get().isEnabled(deviceType(device));
    }

    /** The libtorch_cpu library DJL loaded, for other entry points DJL does not wrap ({@link NativeOps}). */
    static NativeLibrary libtorchCpu() {
        return Symbols.library();
    }

    /**
     * {@link #isEnabled} for code that runs in every precision (the model's layers): false without touching libtorch
     * while no autocast scope has been opened in this JVM, so a float32 run never needs the autocast symbols.
     */
    public static boolean isOn(Device device) {
        return everEntered && isEnabled(device);
    }

    /** The autocast dtype of {@code device}'s type on this thread, as a {@link Precision} (bf16 or fp16), else null. */
    public static Precision dtype(Device device) {
        int t = Symbols.get().getDtype(deviceType(device));
        return t == SCALAR_BFLOAT16 ? Precision.BF16 : t == SCALAR_HALF ? Precision.FP16 : null;
    }

    /** {@code torch.autocast.__exit__}: idempotent; must run on the thread that entered. */
    @Override
    public void close() {
        if (!active || closed) {
            return;
        }
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("an autocast scope must be closed on the thread that opened it ("
                    + owner.getName() + "), not on " + Thread.currentThread().getName());
        }
        closed = true;
        Symbols s = Symbols.get();
        if (s.decrementNesting() == 0) {
            s.clearCache();
        }
        s.setEnabled(deviceType, previousEnabled);
        s.setDtype(deviceType, previousDtype);
        s.setCacheEnabled(previousCacheEnabled);
    }

    static int deviceType(Device device) {
        if (device.isGpu()) {
            return DEVICE_CUDA;
        }
        if (Device.Type.CPU.equals(device.getDeviceType())) {
            return DEVICE_CPU;
        }
        throw new UserException("mixed precision runs on cpu or gpu (CUDA) devices, not on " + device);
    }

    /** The C++ functions of libtorch_cpu.so (ATen's autocast lives there in CPU and CUDA builds alike). */
    static final class Symbols {
        private static volatile Symbols instance;

        private final Function setEnabled;
        private final Function isEnabled;
        private final Function setDtype;
        private final Function getDtype;
        private final Function incrementNesting;
        private final Function decrementNesting;
        private final Function clearCache;
        private final Function setCacheEnabled;
        private final Function isCacheEnabled;

        private Symbols(NativeLibrary lib) {
            setEnabled = lib.getFunction("_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb");
            isEnabled = lib.getFunction("_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE");
            setDtype = lib.getFunction("_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE");
            getDtype = lib.getFunction("_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE");
            incrementNesting = lib.getFunction("_ZN2at8autocast17increment_nestingEv");
            decrementNesting = lib.getFunction("_ZN2at8autocast17decrement_nestingEv");
            clearCache = lib.getFunction("_ZN2at8autocast11clear_cacheEv");
            setCacheEnabled = lib.getFunction("_ZN2at8autocast26set_autocast_cache_enabledEb");
            isCacheEnabled = lib.getFunction("_ZN2at8autocast25is_autocast_cache_enabledEv");
        }

        static Symbols get() {
            Symbols s = instance;
            if (s == null) {
                synchronized (Symbols.class) {
                    s = instance;
                    if (s == null) {
                        s = new Symbols(library());
                        instance = s;
                    }
                }
            }
            return s;
        }

        /** The libtorch_cpu that DJL loaded (the engine is started first, so this is the already-loaded library). */
        private static NativeLibrary library() {
            Engine.getEngine("PyTorch");
            String name = System.mapLibraryName("torch_cpu");
            Path file = Path.of(LibUtils.getLibtorchPath()).resolve(name);
            try {
                return NativeLibrary.getInstance(Files.exists(file) ? file.toString() : "torch_cpu");
            } catch (UnsatisfiedLinkError e) {
                throw new UserException("mixed precision needs libtorch's autocast, but " + name + " was not found in "
                        + file.getParent() + " (" + e.getMessage() + "); use --precision fp32");
            } catch (RuntimeException e) {
                throw new UserException("mixed precision needs libtorch's autocast, which this libtorch does not export ("
                        + e.getMessage() + "); use --precision fp32 or libtorch 2.7.1");
            }
        }

        void setEnabled(int device, boolean on) {
            setEnabled.invokeVoid(new Object[] {device, on ? 1 : 0});
        }

        boolean isEnabled(int device) {
            return (isEnabled.invokeInt(new Object[] {device}) & 0xFF) != 0;
        }

        void setDtype(int device, int scalarType) {
            setDtype.invokeVoid(new Object[] {device, scalarType});
        }

        int getDtype(int device) {
            return getDtype.invokeInt(new Object[] {device}) & 0xFF;
        }

        void incrementNesting() {
            incrementNesting.invokeLong(new Object[0]);
        }

        long decrementNesting() {
            return decrementNesting.invokeLong(new Object[0]);
        }

        void clearCache() {
            clearCache.invokeVoid(new Object[0]);
        }

        void setCacheEnabled(boolean on) {
            setCacheEnabled.invokeVoid(new Object[] {on ? 1 : 0});
        }

        boolean isCacheEnabled() {
            return (isCacheEnabled.invokeInt(new Object[0]) & 0xFF) != 0;
        }
    }
}
