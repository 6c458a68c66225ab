package netcl.dist;

import java.lang.foreign.MemorySegment;

import netcl.bindings.mpi.NetclMpi;

/** A failure reported by libnetcl_mpi: the status name and the C side's message (MPI's own text). */
public final class MpiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String statusName;

    MpiException(String call, int status, String statusName, String nativeMessage) {
        super(call + " failed: " + statusName + (nativeMessage.isEmpty() ? "" : ": " + nativeMessage));
        this.status = status;
        this.statusName = statusName;
    }

    /** The numeric status (-2100 .. -2199). */
    public int status() {
        return status;
    }

    /** The status's name, e.g. {@code NETCL_MPI_FAILED}. */
    public String statusName() {
        return statusName;
    }

    /** Throws for any status but success; allocation-free on success. */
    static void check(int status, String call) {
        if (status != NetclMpi.NETCL_MPI_SUCCESS()) {
            throw new MpiException(call, status, cString(NetclMpi.netcl_mpi_status_name(status)),
                    cString(NetclMpi.netcl_mpi_last_error()));
        }
    }

    private static String cString(MemorySegment pointer) {
        return pointer.equals(MemorySegment.NULL) ? "" : pointer.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
