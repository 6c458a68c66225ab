package netcl.optim;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

import netcl.bindings.Netcl;

/**
 * An optimizer's hold on the buffers of its device-resident parameters. Each buffer is checked
 * against the optimizer's context (same {@code cl_context}, large enough for its range) before
 * the optimizer adopts it, and held by one native reference of the optimizer's own until it is
 * closed: a {@link DeviceTensor} closed by another thread during a step then leaves valid memory
 * behind, and the next step refuses it. Not thread-safe: the optimizer's lock guards it.
 */
final class DeviceBuffers {
    private final MemorySegment context;
    private final MemorySegment scratch;
    private MemorySegment[] data = new MemorySegment[0];  // per parameter: its held data buffer
    private MemorySegment[] grads = new MemorySegment[0]; // per parameter: its held grad buffer

    /** {@code context}: the optimizer's netcl context; {@code scratch}: 8 bytes of native memory. */
    DeviceBuffers(MemorySegment context, MemorySegment scratch) {
        this.context = context;
        this.scratch = scratch;
    }

    /**
     * Checks and holds the data buffers of the parameters {@code added}, numbered from
     * {@code first} on, and checks their gradients; all or nothing.
     */
    void adopt(List<Parameter> added, int first) {
        MemorySegment[] held = Arrays.copyOf(data, first + added.size());
        int next = 0;
        try {
            for (; next < added.size(); next++) {
                Parameter p = added.get(next);
                int i = first + next;
                if (p.isDeviceResident()) {
                    check(i, "data", p.deviceData());
                    DeviceTensor grad = p.deviceGrad();
                    if (grad != null) {
                        check(i, "grad", grad);
                    }
                    p.deviceData().retainOpen("parameter " + i + ": data");
                    held[i] = p.deviceData().buffer();
                }
            }
        } catch (RuntimeException e) {
            for (int k = 0; k < next; k++) {
                if (held[first + k] != null) {
                    Netcl.netcl_buffer_release(held[first + k]);
                }
            }
            throw e;
        }
        data = held;
        grads = Arrays.copyOf(grads, held.length);
    }

    /** Writes parameter {@code i}'s device gradient for the next step (see {@link #holdGrad}). */
    void writeGrad(StepLayout layout, int i, Parameter p) {
        if (!p.deviceData().isOpen()) {
            throw new IllegalArgumentException("parameter " + i + ": its data DeviceTensor is closed");
        }
        DeviceTensor grad = p.deviceGrad();  // once: another thread may swap it meanwhile
        if (grad != null) {
            holdGrad(i, grad);
        }
        layout.deviceGrad(i, grad == null ? MemorySegment.NULL : grad.buffer(), grad == null ? 0 : grad.offset());
    }

    /**
     * Makes sure parameter {@code i}'s gradient buffer is held: one not held yet is checked and
     * held (and the one before it let go). Refuses a closed tensor.
     */
    void holdGrad(int i, DeviceTensor grad) {
        MemorySegment mem = grad.buffer();
        if (!mem.equals(grads[i])) {
            check(i, "grad", grad);
            grad.retainOpen("parameter " + i + ": grad");
            Netcl.netcl_buffer_release(grads[i] == null ? MemorySegment.NULL : grads[i]);
            grads[i] = mem;
        } else if (!grad.isOpen()) {
            throw new IllegalArgumentException("parameter " + i + ": its grad DeviceTensor is closed");
        }
    }

    /** Zeroes parameter {@code i}'s held gradient (see {@link #holdGrad}) through the optimizer's context. */
    void zero(DeviceTensor grad) {
        NetclException.check(Netcl.netcl_buffer_fill(context, grad.buffer(), grad.offset(), grad.numel(), 0f),
                "netcl_buffer_fill");
    }

    /** Lets go of every held buffer. */
    void release() {
        for (MemorySegment[] held : new MemorySegment[][] {data, grads}) {
            for (MemorySegment mem : held) {
                if (mem != null) {
                    Netcl.netcl_buffer_release(mem);
                }
            }
        }
        data = grads = new MemorySegment[0];
    }

    /** The tensor is open, its buffer belongs to the optimizer's context and holds its range. */
    private void check(int i, String what, DeviceTensor t) {
        String name = "parameter " + i + ": " + what;
        if (!t.isOpen()) {
            throw new IllegalArgumentException(name + ": its DeviceTensor is closed");
        }
        int status = Netcl.netcl_buffer_get_numel(context, t.buffer(), scratch);
        if (status == Netcl.NETCL_INVALID_ARGUMENT()) {
            throw new IllegalArgumentException(name + ": " + NetclException.cString(Netcl.netcl_last_error()));
        }
        NetclException.check(status, "netcl_buffer_get_numel");
        long floats = scratch.get(ValueLayout.JAVA_LONG, 0);
        if (t.offset() > floats || t.numel() > floats - t.offset()) {
            throw new IllegalArgumentException(name + ": its buffer holds " + floats + " floats, too few for "
                    + "offset " + t.offset() + " + numel " + t.numel());
        }
    }
}
