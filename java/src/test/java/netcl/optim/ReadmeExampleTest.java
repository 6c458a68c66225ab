package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's Java examples compile as written and run. */
class ReadmeExampleTest {

    /** The first example: the weights move towards zero. */
    @Test
    void readmeExampleCompilesAndRuns(@TempDir Path dir) throws Exception {
        String printed = compileAndRun(dir, "example", "Example");
        List<Float> weights = Pattern.compile("-?\\d+\\.\\d+(E-?\\d+)?").matcher(printed.substring(printed.indexOf('[')))
                .results().map(r -> Float.parseFloat(r.group())).toList();
        assertEquals(3, weights.size(), printed);
        for (float w : weights) {
            assertTrue(Math.abs(w) < 0.5f, "weight " + w + " did not move towards 0: " + printed);
        }
    }

    /** The mixed-precision example: bf16 weights fall from 1 towards 0 and the scale stays positive. */
    @Test
    void mixedPrecisionExampleCompilesAndRuns(@TempDir Path dir) throws Exception {
        String printed = compileAndRun(dir, "amp-example", "AmpExample");
        Matcher m = Pattern.compile("scale (\\S+), w\\[0\\] = (\\S+)").matcher(printed);
        assertTrue(m.find(), printed);
        assertTrue(Double.parseDouble(m.group(1)) > 0, printed);
        float w0 = Float.parseFloat(m.group(2));
        assertTrue(w0 >= 0 && w0 < 0.5f, "w[0] did not move from 1 towards 0: " + printed);
    }

    /** Compiles the README's block after {@code <!-- MARKER:begin -->} as class NAME, runs its main, returns its output. */
    private static String compileAndRun(Path dir, String marker, String name) throws Exception {
        String readme = Files.readString(Path.of(System.getProperty("netcl.root", "."), "README.md"));
        Matcher m = Pattern.compile("<!-- " + marker + ":begin -->\\s*```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has no " + marker + " block");
        Path source = dir.resolve(name + ".java");
        Files.writeString(source, m.group(1));

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int rc = javac.run(null, null, errors, "-d", dir.toString(), "-cp", System.getProperty("java.class.path"),
                source.toString());
        assertEquals(0, rc, errors.toString(StandardCharsets.UTF_8));

        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new java.net.URL[] {dir.toUri().toURL()},
                ReadmeExampleTest.class.getClassLoader())) {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            loader.loadClass(name).getMethod("main", String[].class).invoke(null, (Object) new String[0]);
        } finally {
            System.setOut(original);
        }
        return out.toString(StandardCharsets.UTF_8).trim();
    }
}
