package netcl.dist;

import netcl.bindings.mpi.NetclMpi;
import netcl.internal.NativeLoader;

/**
 * Loads libnetcl_mpi, the optional MPI component: {@code -Dnetcl.mpi.library=PATH}, else
 * {@code NETCL_MPI_LIBRARY}, else the library bundled in the jar (present when the build found
 * MPI), else {@code java.library.path}. It links Open MPI's libmpi, which the system provides.
 */
final class MpiLibrary {
    static final String PROPERTY = "netcl.mpi.library";
    static final String ENVIRONMENT = "NETCL_MPI_LIBRARY";

    private static boolean loaded;

    private MpiLibrary() {
    }

    static synchronized void load() {
        if (loaded) {
            return;
        }
        try {
            NativeLoader.load("netcl_mpi", PROPERTY, ENVIRONMENT, System.getProperty(PROPERTY),
                    System.getenv(ENVIRONMENT), NativeLoader.platform());
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError(e.getMessage() + "\nlibnetcl_mpi is built only where CMake finds MPI: "
                    + "on Debian or Ubuntu apt-get install openmpi-bin libopenmpi-dev (scripts/setup does), then "
                    + "rebuild.");
        }
        int expected = NetclMpi.NETCL_MPI_ABI_VERSION();
        int actual = NetclMpi.netcl_mpi_abi_version();
        if (actual != expected) {
            throw new UnsatisfiedLinkError("the loaded libnetcl_mpi has ABI version " + actual + " but these "
                    + "bindings were generated for ABI " + expected + "; use the library built with this jar");
        }
        loaded = true;
    }
}
