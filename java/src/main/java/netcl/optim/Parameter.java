package netcl.optim;

import java.lang.foreign.MemorySegment;

/**
 * A tensor the optimizer updates in place, and its gradient of the same {@link DType} (float32
 * unless wrapped with another): the caller's own off-heap memory, never copied on CPU devices
 * (see {@link Tensors}). A {@code null}
 * gradient means "no gradient": {@link RMSProp#step()} skips the parameter, like PyTorch's
 * {@code grad = None}.
 *
 * <p>The gradient may be swapped from any thread, also while a step runs: the step uses the old
 * or the new gradient, whole, and keeps the arena of the one it uses open until it returns (so a
 * swapped-out gradient's shared arena may be closed: close() throws while a step still uses it).
 * The memory itself must not be written while a step runs (see {@link RMSProp} for the caller's
 * part).
 */
public final class Parameter {
    private final MemorySegment data;
    private final DType dtype;
    /** Volatile: another thread may swap it while a step runs; a step reads it once. */
    private volatile MemorySegment grad;

    private Parameter(MemorySegment data, DType dtype) {
        this.data = data;
        this.dtype = dtype;
    }

    /**
     * Wraps float32 {@code data} (native, writable, a positive multiple of 4 bytes, 4-byte
     * aligned) and {@code grad} (the same, of the same length, or {@code null}).
     */
    public static Parameter wrap(MemorySegment data, MemorySegment grad) {
        return wrap(data, grad, DType.FP32);
    }

    /**
     * Wraps {@code data} and {@code grad} (or {@code null}) of element type {@code dtype}: native,
     * writable, a positive multiple of the element size long and aligned to it, the two of equal
     * length. For BF16 and FP16, netcl keeps a float32 master copy of the parameter (see
     * {@link DType}).
     */
    public static Parameter wrap(MemorySegment data, MemorySegment grad, DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype is null");
        }
        checkSegment("data", data, dtype);
        Parameter p = new Parameter(data, dtype);
        p.grad(grad);
        return p;
    }

    /** Sets the gradient the next step uses (of the parameter's type); {@code null} means none. */
    public Parameter grad(MemorySegment grad) {
        if (grad != null) {
            checkSegment("grad", grad, dtype);
            if (grad.byteSize() != data.byteSize()) {
                throw new IllegalArgumentException("grad has " + grad.byteSize() / dtype.byteSize() + " "
                        + dtype.elements() + " but data has " + numel());
            }
            if (overlaps(grad, data)) {
                throw new IllegalArgumentException("grad overlaps data");
            }
        }
        this.grad = grad;
        return this;
    }

    public MemorySegment data() {
        return data;
    }

    /** The current gradient, or {@code null}. */
    public MemorySegment grad() {
        return grad;
    }

    /** The element type of the parameter and its gradient. */
    public DType dtype() {
        return dtype;
    }

    public long numel() {
        return data.byteSize() / dtype.byteSize();
    }

    static boolean overlaps(MemorySegment a, MemorySegment b) {
        return a.address() < b.address() + b.byteSize() && b.address() < a.address() + a.byteSize();
    }

    static void checkSegment(String what, MemorySegment segment, DType dtype) {
        if (segment == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalArgumentException(what + ": the segment's arena is closed");
        }
        if (!segment.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment; netcl needs native memory "
                    + "(Arena.allocate or Tensors.allocate)");
        }
        if (segment.address() == 0) {
            // netcl reads address 0 as "no gradient" and would silently skip the parameter.
            throw new IllegalArgumentException(what + " is at address 0 (a NULL pointer, not memory)");
        }
        if (segment.isReadOnly()) {
            throw new IllegalArgumentException(what + " is read-only");
        }
        int size = dtype.byteSize();
        if (segment.byteSize() == 0 || segment.byteSize() % size != 0) {
            throw new IllegalArgumentException(what + " has " + segment.byteSize()
                    + " bytes, not a positive multiple of " + size + " (" + dtype + ")");
        }
        if (segment.address() % size != 0) {
            throw new IllegalArgumentException(what + " at address 0x" + Long.toHexString(segment.address())
                    + " is not aligned to " + size + " bytes (" + dtype + ")");
        }
    }
}
