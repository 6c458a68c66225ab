package netcl.optim;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A tensor the optimizer updates in place, and its gradient of the same {@link DType} (float32
 * unless wrapped with another): the caller's own off-heap memory, never copied on CPU devices
 * (see {@link Tensors}), or float32 device memory ({@link DeviceTensor}s, never copied at all).
 * A {@code null}
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
    /**
     * Volatile: another thread may swap it while a step runs; a step reads it once. Written with
     * release semantics ({@link #GRAD}): the count's atomic update that follows every write (see
     * {@link #gradChanged}) is the full fence, and a volatile store before it cost a second one
     * (a {@code grad(MemorySegment)} call: 12.5-12.9 ns with both, 7.4-8.1 ns with one).
     */
    private volatile MemorySegment grad;
    private static final VarHandle GRAD;

    static {
        try {
            GRAD = MethodHandles.lookup().findVarHandle(Parameter.class, "grad", MemorySegment.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
    private final DeviceTensor deviceData;
    /** Volatile, like grad. */
    private volatile DeviceTensor deviceGrad;
    /**
     * Counts the changes of the gradient made through netcl (a new gradient, zeroGrad), each
     * counted after it took effect: statistics of a gradient pass stay valid while the count
     * they were computed at holds (see {@link RMSProp#clipGradNorm(double, double, boolean)}).
     */
    private final AtomicLong gradChanges = new AtomicLong();

    private Parameter(MemorySegment data, DType dtype, DeviceTensor deviceData) {
        this.data = data;
        this.dtype = dtype;
        this.deviceData = deviceData;
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
        Parameter p = new Parameter(data, dtype, null);
        p.grad(grad);
        return p;
    }

    /**
     * A device-resident parameter: {@code data} and {@code grad} (of the same length, not
     * overlapping, or {@code null}) stay in device memory. They must stay open while an optimizer
     * uses them.
     */
    public static Parameter wrap(DeviceTensor data, DeviceTensor grad) {
        if (data == null) {
            throw new IllegalArgumentException("data is null");
        }
        if (!data.isOpen()) {
            throw new IllegalArgumentException("data: the DeviceTensor is closed");
        }
        Parameter p = new Parameter(null, DType.FP32, data);
        p.deviceGrad(grad);
        return p;
    }

    /**
     * Sets the gradient of a device-resident parameter; {@code null} means none. Like
     * {@link #grad(MemorySegment)}, it may be swapped while a step runs.
     *
     * @throws IllegalArgumentException on a host parameter, or for a closed, shorter, longer or
     *                                  overlapping tensor
     */
    public Parameter deviceGrad(DeviceTensor grad) {
        if (deviceData == null) {
            throw new IllegalArgumentException("a host parameter takes its gradient as a MemorySegment");
        }
        if (grad != null) {
            if (!grad.isOpen()) {
                throw new IllegalArgumentException("grad: the DeviceTensor is closed");
            }
            if (grad.numel() != deviceData.numel()) {
                throw new IllegalArgumentException("grad has " + grad.numel() + " floats but data has "
                        + deviceData.numel());
            }
            if (grad.overlaps(deviceData)) {
                throw new IllegalArgumentException("grad overlaps data");
            }
        }
        this.deviceGrad = grad;
        gradChanged();
        return this;
    }

    /**
     * Sets the gradient the next step uses (of the parameter's type); {@code null} means none
     * (on a device-resident parameter too).
     */
    public Parameter grad(MemorySegment grad) {
        if (deviceData != null) {
            if (grad != null) {
                throw new IllegalArgumentException("a device-resident parameter takes its gradient as a "
                        + "DeviceTensor (deviceGrad)");
            }
            this.deviceGrad = null;
            gradChanged();
            return this;
        }
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
        GRAD.setRelease(this, grad);
        gradChanged();
        return this;
    }

    /** The host data, or {@code null} for a device-resident parameter. */
    public MemorySegment data() {
        return data;
    }

    /** The current host gradient, or {@code null}. */
    public MemorySegment grad() {
        return grad;
    }

    /** The element type of the parameter and its gradient (FP32 for a device-resident one). */
    public DType dtype() {
        return dtype;
    }

    /** The device data, or {@code null} for a host parameter. */
    public DeviceTensor deviceData() {
        return deviceData;
    }

    /** The current device gradient, or {@code null}. */
    public DeviceTensor deviceGrad() {
        return deviceGrad;
    }

    long gradChanges() {
        return gradChanges.get();
    }

    /** Called after each change of the gradient (or of its memory) made through netcl. */
    void gradChanged() {
        gradChanges.incrementAndGet();
    }

    public boolean isDeviceResident() {
        return deviceData != null;
    }

    public long numel() {
        return deviceData != null ? deviceData.numel() : data.byteSize() / dtype.byteSize();
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
