package io.moco4j.io;

import io.moco4j.util.UserException;

/**
 * Element types of tensors read from or written to PyTorch checkpoints and safetensors files, with
 * their names in both formats. All data is little endian.
 */
public enum DType {
    FLOAT32(4, "FloatStorage", "F32", true),
    FLOAT64(8, "DoubleStorage", "F64", true),
    FLOAT16(2, "HalfStorage", "F16", true),
    BFLOAT16(2, "BFloat16Storage", "BF16", true),
    INT64(8, "LongStorage", "I64", false),
    INT32(4, "IntStorage", "I32", false),
    INT16(2, "ShortStorage", "I16", false),
    INT8(1, "CharStorage", "I8", false),
    UINT8(1, "ByteStorage", "U8", false),
    BOOL(1, "BoolStorage", "BOOL", false);

    private final int byteSize;
    private final String torchStorage;
    private final String safetensorsName;
    private final boolean floating;

    DType(int byteSize, String torchStorage, String safetensorsName, boolean floating) {
        this.byteSize = byteSize;
        this.torchStorage = torchStorage;
        this.safetensorsName = safetensorsName;
        this.floating = floating;
    }

    public int byteSize() {
        return byteSize;
    }

    /** The storage class name inside the {@code torch} module, e.g. {@code FloatStorage}. */
    public String torchStorage() {
        return torchStorage;
    }

    public String safetensorsName() {
        return safetensorsName;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The dtype of a {@code torch.<name>} storage class, or null when the name is not a known storage. */
    public static DType ofTorchStorage(String name) {
        for (DType t : values()) {
            if (t.torchStorage.equals(name)) {
                return t;
            }
        }
        return null;
    }

    public static DType ofSafetensors(String name, String file) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) {
                return t;
            }
        }
        throw new UserException(file + ": unsupported safetensors dtype " + name
                + "; supported are F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL");
    }
}
