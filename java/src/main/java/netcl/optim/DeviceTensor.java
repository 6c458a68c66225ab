package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import netcl.bindings.Netcl;

/**
 * A float32 tensor in device memory: a range of an OpenCL buffer ({@code cl_mem}). Parameters
 * over device tensors ({@link Parameter#wrap(DeviceTensor, DeviceTensor)}) are stepped where they
 * are, with no copy between host and device; on a discrete GPU that saves two PCIe transfers of
 * every tensor per step.
 *
 * <ul>
 * <li>{@link #allocate} makes a zeroed buffer on a {@link DeviceContext}; {@link #copyFrom},
 * {@link #copyTo} and {@link #fill} work on it through that context's queue (after the work
 * queued there before, such as an enqueued step) and return when done.</li>
 * <li>{@link #wrap} views another OpenCL user's buffer; that user reads and writes it.</li>
 * <li>{@link #slice} is a view of part of a tensor. Parameters that are slices of one buffer,
 * like host parameters that are slices of one allocation, are updated by one kernel launch.</li>
 * </ul>
 *
 * <p>Ownership: each open tensor (slices included) holds a reference on its buffer; the buffer is
 * freed when the last of them is closed and no optimizer uses it (an optimizer holds its own
 * references on its parameters' buffers until it is closed). A closed tensor refuses every use
 * with {@link IllegalStateException}; a step whose parameter or gradient is closed is refused
 * with {@link IllegalArgumentException} before anything changes. Thread-safe.
 */
public final class DeviceTensor implements AutoCloseable {
    private final Buffer buffer;
    private final long offset;
    private final long numel;
    private boolean closed;  // guarded by buffer

    /** One cl_mem and the open tensors over it. */
    static final class Buffer {
        final MemorySegment mem;
        final DeviceContext context;  // null for a caller's buffer
        private int openTensors;

        Buffer(MemorySegment mem, DeviceContext context) {
            this.mem = mem;
            this.context = context;
        }
    }

    private DeviceTensor(Buffer buffer, long offset, long numel) {
        this.buffer = buffer;
        this.offset = offset;
        this.numel = numel;
        buffer.openTensors++;
    }

    /** A zeroed tensor of {@code numel} floats in a new buffer on {@code context}'s device. */
    public static DeviceTensor allocate(DeviceContext context, long numel) {
        if (context == null) {
            throw new IllegalArgumentException("context is null");
        }
        checkNumel(numel);
        synchronized (context) {
            context.checkOpen();
            try (Arena temp = Arena.ofConfined()) {
                MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
                NetclException.checkArgument(Netcl.netcl_buffer_create(context.handle(), numel, out),
                        "netcl_buffer_create");
                Buffer buffer = new Buffer(out.get(ValueLayout.ADDRESS, 0), context);
                synchronized (buffer) {
                    return new DeviceTensor(buffer, 0, numel);
                }
            }
        }
    }

    /**
     * Floats {@code [offset, offset + numel)} of another OpenCL user's buffer ({@code clMem}, its
     * raw handle), held by one more reference until closed. The buffer must belong to the
     * context of the optimizer it is stepped by (see {@link DeviceContext#fromOpenCL}) and hold
     * the range, which the optimizer checks when it adopts the parameter. Its owner reads and
     * writes it; {@link #copyFrom}, {@link #copyTo} and {@link #fill} are for allocated tensors.
     */
    public static DeviceTensor wrap(MemorySegment clMem, long offset, long numel) {
        DeviceContext.checkHandle("clMem", clMem);
        if (offset < 0) {
            throw new IllegalArgumentException("offset must not be negative, got " + offset);
        }
        checkNumel(numel);
        NativeLibrary.load();
        NetclException.checkArgument(Netcl.netcl_buffer_retain(clMem), "netcl_buffer_retain");
        Buffer buffer = new Buffer(clMem, null);
        synchronized (buffer) {
            return new DeviceTensor(buffer, offset, numel);
        }
    }

    /** Floats {@code [offset, offset + numel)} of this tensor, over the same buffer. */
    public DeviceTensor slice(long offset, long numel) {
        if (offset < 0 || numel <= 0 || offset > this.numel - numel) {
            throw new IllegalArgumentException("slice [" + offset + ", " + offset + " + " + numel
                    + ") is not within this tensor's " + this.numel + " floats");
        }
        synchronized (buffer) {
            checkOpen();
            return new DeviceTensor(buffer, this.offset + offset, numel);
        }
    }

    public long numel() {
        return numel;
    }

    /** The first float's index in its buffer. */
    public long offset() {
        return offset;
    }

    /** The raw {@code cl_mem} handle of the buffer. */
    public MemorySegment buffer() {
        return buffer.mem;
    }

    public boolean isOpen() {
        synchronized (buffer) {
            return !closed;
        }
    }

    /** Copies {@code source} (native memory, exactly this tensor's bytes; may be read-only) into the tensor. */
    public void copyFrom(MemorySegment source) {
        checkHost("source", source);
        onQueue(context -> Netcl.netcl_buffer_write(context, buffer.mem, offset, numel, source),
                "netcl_buffer_write");
    }

    /** Copies the tensor into {@code target} (native, writable, exactly this tensor's bytes). */
    public void copyTo(MemorySegment target) {
        checkHost("target", target);
        if (target.isReadOnly()) {
            throw new IllegalArgumentException("target is read-only");
        }
        onQueue(context -> Netcl.netcl_buffer_read(context, buffer.mem, offset, numel, target),
                "netcl_buffer_read");
    }

    /** Sets every element to {@code value}. */
    public void fill(float value) {
        onQueue(context -> Netcl.netcl_buffer_fill(context, buffer.mem, offset, numel, value),
                "netcl_buffer_fill");
    }

    /** The tensor's values, copied to the Java heap. */
    public float[] toArray() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(numel + " floats do not fit a Java array");
        }
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment host = temp.allocate(ValueLayout.JAVA_FLOAT, numel);
            copyTo(host);
            return host.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** Drops this tensor's reference on its buffer; idempotent. */
    @Override
    public void close() {
        synchronized (buffer) {
            if (!closed) {
                closed = true;
                if (--buffer.openTensors == 0) {
                    Netcl.netcl_buffer_release(buffer.mem);
                }
            }
        }
    }

    /**
     * Gives the caller (an optimizer) its own native reference on the buffer, checked against
     * the tensor being open at that moment; release it with {@code netcl_buffer_release}.
     */
    void retainOpen(String what) {
        synchronized (buffer) {
            if (closed) {
                throw new IllegalArgumentException(what + ": its DeviceTensor is closed");
            }
            NetclException.check(Netcl.netcl_buffer_retain(buffer.mem), "netcl_buffer_retain");
        }
    }

    boolean overlaps(DeviceTensor other) {
        return buffer.mem.equals(other.buffer.mem) && offset < other.offset + other.numel
                && other.offset < offset + numel;
    }

    private interface Call {
        int run(MemorySegment context);
    }

    /** A copy or fill on the tensor's own context, with the context and the tensor kept open. */
    private void onQueue(Call call, String name) {
        DeviceContext context = buffer.context;
        if (context == null) {
            throw new IllegalStateException("this tensor wraps another OpenCL user's buffer: read and "
                    + "write it through that user's OpenCL code");
        }
        synchronized (context) {
            context.checkOpen();
            synchronized (buffer) {
                checkOpen();
                NetclException.check(call.run(context.handle()), name);
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the DeviceTensor is closed");
        }
    }

    private void checkHost(String what, MemorySegment segment) {
        if (segment == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (!segment.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment; copies need native memory "
                    + "(Arena.allocate or Tensors.allocate)");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalArgumentException(what + ": the segment's arena is closed");
        }
        if (segment.byteSize() != numel * Float.BYTES) {
            throw new IllegalArgumentException(what + " has " + segment.byteSize() + " bytes, the tensor "
                    + numel * Float.BYTES + " (" + numel + " floats)");
        }
    }

    private static void checkNumel(long numel) {
        if (numel <= 0 || numel > Long.MAX_VALUE / Float.BYTES) {
            throw new IllegalArgumentException("numel must be positive, got " + numel);
        }
    }
}
