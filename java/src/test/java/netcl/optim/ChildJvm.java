package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a test's {@code main} in a child JVM (the same java, class path and native access), for
 * checks that may crash the JVM or that measure the process's memory: a crash then fails one
 * test instead of ending the test run.
 */
final class ChildJvm {
    /** Far beyond any child's run: only a hung child (a deadlock) reaches it. */
    private static final long HANG_MINUTES = 10;

    private ChildJvm() {
    }

    /** What the child printed (stdout and stderr together) and its exit code. */
    record Result(int exitCode, String output) {
        /** Asserts a clean exit and returns the child's last line that starts with {@code key}. */
        String verdict(String key) {
            assertEquals(0, exitCode, "the child JVM failed (exit code " + exitCode + "):\n" + output);
            String found = null;
            for (String line : output.split("\n")) {
                if (line.startsWith(key)) {
                    found = line.substring(key.length()).trim();
                }
            }
            assertTrue(found != null, "the child printed no '" + key + "' line:\n" + output);
            return found;
        }
    }

    static Result run(Class<?> main, List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        // A crash report goes to the temporary folder, not into the working tree.
        command.add("-XX:ErrorFile=" + Path.of(System.getProperty("java.io.tmpdir"), "netcl-child-hs_err_%p.log"));
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));
        try {
            Path log = Files.createTempFile("netcl-child-", ".log");
            try {
                Process process = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(log.toFile()).start();
                if (!process.waitFor(HANG_MINUTES, TimeUnit.MINUTES)) {
                    process.destroyForcibly().waitFor();
                    fail("the child JVM hung for " + HANG_MINUTES + " minutes:\n" + Files.readString(log));
                }
                return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(log);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the child JVM", e);
        }
    }

    /** This process's resident set size in bytes (VmRSS in /proc/self/status). */
    static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    String kib = line.substring("VmRSS:".length()).trim().split("\\s+")[0];
                    return Long.parseLong(kib) * 1024;
                }
            }
            throw new IllegalStateException("/proc/self/status has no VmRSS line");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
