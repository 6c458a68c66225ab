package netcl.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How netcl's native libraries (libnetcl, the optional libnetcl_mpi) are found: an explicit
 * override ({@code -Dproperty=PATH}, else an environment variable), else the library bundled in
 * the jar for this platform, else {@code java.library.path}. An explicit override that fails is an
 * error, never skipped. A failure is one exception naming every place tried.
 */
public final class NativeLoader {
    private NativeLoader() {
    }

    /**
     * Loads {@code lib<name>.so}. {@code override} and {@code environmentOverride} are the values
     * of {@code property} and {@code environment} (null or blank: unset).
     */
    public static void load(String name, String property, String environment, String override,
                            String environmentOverride, String platform) {
        String file = "lib" + name + ".so";
        List<String> tried = new ArrayList<>();
        if (override != null && !override.isBlank()) {
            loadOverride(name, property, environment, "-D" + property + "=" + override, override, tried);
            return;
        }
        if (environmentOverride != null && !environmentOverride.isBlank()) {
            loadOverride(name, property, environment, environment + "=" + environmentOverride,
                    environmentOverride, tried);
            return;
        }
        String resource = "/netcl/native/" + platform + "/" + file;
        try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
            if (in == null) {
                tried.add("bundled " + resource + ": not in the jar (no build for " + platform + ")");
            } else {
                Path dir = Files.createTempDirectory(name + "-");
                Path copy = dir.resolve(file);
                Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
                copy.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
                System.load(copy.toString());
                return;
            }
        } catch (IOException | UnsatisfiedLinkError e) {
            tried.add("bundled " + resource + ": " + e.getMessage());
        }
        try {
            System.loadLibrary(name);
            return;
        } catch (UnsatisfiedLinkError e) {
            tried.add("java.library.path (" + System.getProperty("java.library.path") + "): " + e.getMessage());
        }
        throw failure(name, property, environment, tried);
    }

    private static void loadOverride(String name, String property, String environment, String source, String path,
                                     List<String> tried) {
        try {
            System.load(Path.of(path).toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError e) {
            tried.add(source + ": " + e.getMessage());
            throw failure(name, property, environment, tried);
        }
    }

    private static UnsatisfiedLinkError failure(String name, String property, String environment, List<String> tried) {
        return new UnsatisfiedLinkError("could not load lib" + name + "; tried:\n  " + String.join("\n  ", tried)
                + "\nSet -D" + property + "=/path/to/lib" + name + ".so or " + environment + " to override.");
    }

    /** This machine's platform key, as the jar's resource folders name it (linux-x86_64). */
    public static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osKey = os.contains("linux") ? "linux" : os.replaceAll("\\W", "");
        String archKey = arch.equals("amd64") || arch.equals("x86_64") ? "x86_64" : arch;
        return osKey + "-" + archKey;
    }
}
