package netcl.optim;

import netcl.bindings.Netcl;
import netcl.internal.NativeLoader;

/**
 * Loads libnetcl once per class loader, so that the generated bindings (which look symbols up in
 * the loader's libraries) find them. Order: {@code -Dnetcl.library=PATH}, else the environment
 * variable {@code NETCL_LIBRARY}, else the library bundled in the jar for this platform, else
 * {@code netcl} on {@code java.library.path}. An explicit override that fails is an error, never
 * skipped. A failure is one exception naming every place tried (see {@link NativeLoader}).
 */
final class NativeLibrary {
    static final String PROPERTY = "netcl.library";
    static final String ENVIRONMENT = "NETCL_LIBRARY";

    private static boolean loaded;

    private NativeLibrary() {
    }

    static synchronized void load() {
        if (!loaded) {
            load(System.getProperty(PROPERTY), System.getenv(ENVIRONMENT), platform());
            checkAbi();
            loaded = true;
        }
    }

    /**
     * The bindings read and write netcl's structs at the offsets of the header they were
     * generated from: a library built from another header would be misread, so it is refused.
     */
    static void checkAbi() {
        int expected = Netcl.NETCL_ABI_VERSION();
        int actual;
        try {
            actual = Netcl.netcl_abi_version();
        } catch (UnsatisfiedLinkError | IllegalArgumentException e) {
            throw new UnsatisfiedLinkError("the loaded libnetcl has no netcl_abi_version: it is older than "
                    + "these bindings (ABI " + expected + "); use the library built with this jar");
        }
        if (actual != expected) {
            throw new UnsatisfiedLinkError("the loaded libnetcl has ABI version " + actual + " but these "
                    + "bindings were generated for ABI " + expected + "; use the library built with this jar");
        }
    }

    /** The loading procedure with its inputs explicit, for tests. */
    static void load(String property, String environment, String platform) {
        NativeLoader.load("netcl", PROPERTY, ENVIRONMENT, property, environment, platform);
    }

    static String platform() {
        return NativeLoader.platform();
    }
}
