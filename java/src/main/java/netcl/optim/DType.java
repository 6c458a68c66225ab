package netcl.optim;

import netcl.bindings.Netcl;

/**
 * Element type of a parameter and its gradient. For {@link #BF16} and {@link #FP16} parameters
 * netcl keeps a float32 master copy beside the optimizer state (made from the parameter at its
 * first step): every update runs in float32 on the master, exactly as for {@link #FP32}
 * parameters, and the parameter receives the master rounded to nearest even, like PyTorch's
 * {@code master.to(dtype)}.
 */
public enum DType {
    FP32(4), BF16(2), FP16(2);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** How messages count elements of this type: "floats" for FP32, else "BF16 elements". */
    String elements() {
        return this == FP32 ? "floats" : this + " elements";
    }

    /** The C library's value ({@code NETCL_FP32}, ...). */
    int code() {
        return switch (this) {
            case FP32 -> Netcl.NETCL_FP32();
            case BF16 -> Netcl.NETCL_BF16();
            case FP16 -> Netcl.NETCL_FP16();
        };
    }
}
