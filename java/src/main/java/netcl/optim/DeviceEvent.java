package netcl.optim;

import java.lang.foreign.MemorySegment;

import netcl.bindings.Netcl;

/**
 * The completion of an enqueued step ({@link RMSProp#enqueueStep}): an OpenCL event that other
 * OpenCL work may wait for ({@link #handle()}, a raw {@code cl_event}), or the host
 * ({@link #await()}). Close it to release the event; not closing it leaks one small OpenCL
 * object. Thread-safe.
 */
public final class DeviceEvent implements AutoCloseable {
    private final MemorySegment event;
    private boolean closed;

    DeviceEvent(MemorySegment event) {
        this.event = event;
    }

    /** The raw {@code cl_event}, valid until {@link #close()}. */
    public synchronized MemorySegment handle() {
        checkOpen();
        return event;
    }

    /**
     * Waits until the step has completed.
     *
     * @throws NetclException when the step failed on the device (the optimizer is then broken)
     */
    public synchronized void await() {
        checkOpen();
        NetclException.check(Netcl.netcl_event_wait(event), "netcl_event_wait");
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Netcl.netcl_event_release(event);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the DeviceEvent is closed");
        }
    }
}
