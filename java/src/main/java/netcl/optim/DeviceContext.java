package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_device_info;

/**
 * An OpenCL device with netcl's own in-order queue on it (a native {@code netcl_context}): where
 * {@link DeviceTensor}s are allocated and copied, and where an optimizer built with
 * {@link RMSProp.Builder#context(DeviceContext)} runs.
 *
 * <pre>{@code
 * try (DeviceContext gpu = DeviceContext.create();
 *      DeviceTensor w = DeviceTensor.allocate(gpu, n), dw = DeviceTensor.allocate(gpu, n);
 *      RMSProp opt = RMSProp.builder().context(gpu).build(List.of(Parameter.wrap(w, dw)))) {
 *     dw.copyFrom(gradients);   // or compute them on the device
 *     opt.step();               // nothing is copied between host and device
 * }
 * }</pre>
 *
 * <p>{@link #create()} picks the device for device-resident tensors: a GPU with its own memory
 * first (see {@link Device}). {@link #fromOpenCL} shares another OpenCL user's context and queue,
 * so that netcl's steps and the caller's commands are ordered on one queue.
 *
 * <p>Lifetime: an optimizer built on a context keeps it alive until the optimizer is closed,
 * whatever the order of {@code close()} calls. After {@link #close()} the context allocates and
 * copies nothing more ({@link IllegalStateException}); tensors allocated on it stay valid for
 * the optimizers that use them.
 */
public final class DeviceContext implements AutoCloseable {
    private final MemorySegment handle;
    private final Device device;
    private int optimizers;  // optimizers built on this context and not yet closed
    private boolean closed;

    private DeviceContext(MemorySegment handle) {
        this.handle = handle;
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment info = netcl_device_info.allocate(temp);
            NetclException.check(Netcl.netcl_context_get_info(handle, info), "netcl_context_get_info");
            this.device = Device.from(info);
        } catch (RuntimeException e) {
            Netcl.netcl_context_destroy(handle);
            throw e;
        }
    }

    /**
     * A context on the default device for device-resident tensors: {@code NETCL_DEVICE} if set,
     * else a GPU with its own memory, then any GPU, an accelerator, a CPU device, skipping
     * devices netcl cannot run exactly.
     */
    public static DeviceContext create() {
        return create(null, Netcl.NETCL_FOR_DEVICE_TENSORS());
    }

    /** A context on the device {@code selector} names (see {@link Device}). */
    public static DeviceContext create(String selector) {
        return create(checkSelector(selector), Netcl.NETCL_FOR_DEVICE_TENSORS());
    }

    /** The default device for host tensors (a CPU device sharing host memory first), or {@code selector}'s. */
    static DeviceContext forHostTensors(String selector) {
        return create(selector, Netcl.NETCL_FOR_HOST_TENSORS());
    }

    private static DeviceContext create(String selector, int use) {
        NativeLibrary.load();
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
            MemorySegment name = selector == null ? MemorySegment.NULL : temp.allocateFrom(selector);
            NetclException.check(Netcl.netcl_context_create_for(use, name, out), "netcl_context_create_for");
            return new DeviceContext(out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /**
     * A context on another OpenCL user's {@code cl_context} and in-order {@code cl_command_queue}
     * (their raw handles, for example {@code MemorySegment.ofAddress(queue.getNativePointer())}
     * from JOCL): netcl retains both until the context and its optimizers are closed, and enqueues
     * its work on that queue, after the caller's. The handles must be live OpenCL objects of
     * those kinds: OpenCL cannot tell a dangling or mistyped pointer from a valid one.
     *
     * @throws IllegalArgumentException for a null handle, or a queue of another context
     */
    public static DeviceContext fromOpenCL(MemorySegment clContext, MemorySegment clQueue) {
        checkHandle("clContext", clContext);
        checkHandle("clQueue", clQueue);
        NativeLibrary.load();
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
            NetclException.checkArgument(Netcl.netcl_context_create_from_cl(clContext, MemorySegment.NULL,
                    clQueue, out), "netcl_context_create_from_cl");
            return new DeviceContext(out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The device this context runs on. */
    public Device device() {
        return device;
    }

    /** Releases the context once no optimizer uses it; idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            destroyIfUnused();
        }
    }

    /** The native handle, for a call made while holding this context's lock or a use of it. */
    MemorySegment handle() {
        return handle;
    }

    /** An optimizer starts using the context: it stays alive until {@link #release()}. */
    synchronized void acquire() {
        checkOpen();
        optimizers++;
    }

    synchronized void release() {
        optimizers--;
        destroyIfUnused();
    }

    synchronized void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the DeviceContext is closed");
        }
    }

    private void destroyIfUnused() {
        if (closed && optimizers == 0) {
            Netcl.netcl_context_destroy(handle);
        }
    }

    static String checkSelector(String selector) {
        if (selector == null || selector.isBlank()) {
            throw new IllegalArgumentException("device selector is empty");
        }
        // The native side reads a C string: it would end at the NUL and pick another device.
        int nul = selector.indexOf('\0');
        if (nul >= 0) {
            throw new IllegalArgumentException("device selector contains a NUL character at index " + nul);
        }
        return selector;
    }

    static void checkHandle(String what, MemorySegment handle) {
        if (handle == null || handle.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (!handle.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment, not an OpenCL handle");
        }
    }
}
