package netcl.optim;

/**
 * How {@link RMSProp#step()} runs (the C library's {@code enum netcl_path}).
 * <ul>
 * <li>{@link #KERNEL}: the fused OpenCL kernel on the device.</li>
 * <li>{@link #HOST}: the same update, bit for bit, on the calling thread (and a pool of worker
 * threads for larger steps) with no OpenCL call at all; it needs a CPU device that shares host memory (netcl then keeps its state in host
 * memory) and host tensors.</li>
 * <li>{@link #AUTO}: the host path wherever it can run (measured as fast as the kernel or faster
 * at every size on such devices, and small steps skip OpenCL's dispatch), else the kernel.</li>
 * </ul>
 * Without {@link RMSProp.Builder#path}, the environment variable {@code NETCL_PATH}
 * ({@code auto}, {@code kernel}, {@code host}) chooses, else {@link #AUTO}.
 */
public enum StepPath {
    AUTO, KERNEL, HOST;

    /** The C library's value ({@code NETCL_PATH_AUTO}, ...). */
    int code() {
        return switch (this) {
            case AUTO -> netcl.bindings.Netcl.NETCL_PATH_AUTO();
            case KERNEL -> netcl.bindings.Netcl.NETCL_PATH_KERNEL();
            case HOST -> netcl.bindings.Netcl.NETCL_PATH_HOST();
        };
    }

    static StepPath of(int code) {
        for (StepPath p : values()) {
            if (p.code() == code) {
                return p;
            }
        }
        throw new IllegalStateException("unknown path " + code);
    }
}
