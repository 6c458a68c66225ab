package netcl.optim;

import java.lang.foreign.MemorySegment;

import netcl.bindings.Netcl;

/**
 * A failure reported by the native library or the OpenCL driver: the status name (e.g.
 * {@code NETCL_NO_DEVICE}, {@code CL_OUT_OF_RESOURCES}) and the C side's detail message.
 */
public final class NetclException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String statusName;
    private final String nativeMessage;

    NetclException(String call, int status, String statusName, String nativeMessage) {
        super(call + " failed: " + statusName + (nativeMessage.isEmpty() ? "" : ": " + nativeMessage));
        this.status = status;
        this.statusName = statusName;
        this.nativeMessage = nativeMessage;
    }

    /** The numeric status: an OpenCL error code (-1..-1999) or a netcl code (-2000..). */
    public int status() {
        return status;
    }

    /** The status's name, e.g. {@code NETCL_STATE_MISMATCH}. */
    public String statusName() {
        return statusName;
    }

    /** The thread-local message the C library recorded for this failure. */
    public String nativeMessage() {
        return nativeMessage;
    }

    /** Throws for any status but success; allocation-free on success. */
    static void check(int status, String call) {
        if (status != Netcl.NETCL_SUCCESS()) {
            throw new NetclException(call, status, cString(Netcl.netcl_status_name(status)),
                    cString(Netcl.netcl_last_error()));
        }
    }

    /**
     * Like {@link #check}, but a bad argument only the C side can see (a handle of another
     * context, a buffer too small) becomes an {@link IllegalArgumentException}.
     */
    static void checkArgument(int status, String call) {
        if (status == Netcl.NETCL_INVALID_ARGUMENT()) {
            throw new IllegalArgumentException(call + ": " + cString(Netcl.netcl_last_error()));
        }
        check(status, call);
    }

    static String cString(MemorySegment pointer) {
        return pointer.equals(MemorySegment.NULL) ? "" : pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
