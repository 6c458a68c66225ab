package netcl.optim;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import netcl.bindings.Netcl;

/**
 * Loads libnetcl once per class loader, so that the generated bindings (which look symbols up in
 * the loader's libraries) find them. Order: {@code -Dnetcl.library=PATH}, else the environment
 * variable {@code NETCL_LIBRARY}, else the library bundled in the jar for this platform, else
 * {@code netcl} on {@code java.library.path}. An explicit override that fails is an error, never
 * skipped. A failure is one exception naming every place tried.
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
        List<String> tried = new ArrayList<>();
        if (property != null && !property.isBlank()) {
            loadOverride("-D" + PROPERTY + "=" + property, property, tried);
            return;
        }
        if (environment != null && !environment.isBlank()) {
            loadOverride(ENVIRONMENT + "=" + environment, environment, tried);
            return;
        }
        String resource = "/netcl/native/" + platform + "/libnetcl.so";
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                tried.add("bundled " + resource + ": not in the jar (no build for " + platform + ")");
            } else {
                Path dir = Files.createTempDirectory("netcl-");
                Path file = dir.resolve("libnetcl.so");
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
                System.load(file.toString());
                return;
            }
        } catch (IOException | UnsatisfiedLinkError e) {
            tried.add("bundled " + resource + ": " + e.getMessage());
        }
        try {
            System.loadLibrary("netcl");
            return;
        } catch (UnsatisfiedLinkError e) {
            tried.add("java.library.path (" + System.getProperty("java.library.path") + "): "
                    + e.getMessage());
        }
        throw failure(tried);
    }

    private static void loadOverride(String source, String path, List<String> tried) {
        try {
            System.load(Path.of(path).toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError e) {
            tried.add(source + ": " + e.getMessage());
            throw failure(tried);
        }
    }

    private static UnsatisfiedLinkError failure(List<String> tried) {
        return new UnsatisfiedLinkError("could not load libnetcl; tried:\n  " + String.join("\n  ", tried)
                + "\nSet -D" + PROPERTY + "=/path/to/libnetcl.so or " + ENVIRONMENT + " to override.");
    }

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osKey = os.contains("linux") ? "linux" : os.replaceAll("\\W", "");
        String archKey = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64" : arch;
        return osKey + "-" + archKey;
    }
}
