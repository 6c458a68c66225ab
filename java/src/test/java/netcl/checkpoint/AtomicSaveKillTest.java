package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import netcl.optim.ParamState;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;

/**
 * Atomic saves under SIGKILL: a child JVM ({@link SaveLoop}) saves generation after generation
 * to one file; after it reports 1 to 3 saves it is killed 0-20 ms later, in the middle of a later
 * save at a random point, 60 times; after each kill the file must load
 * completely and hold exactly one generation, the last one the child reported saved or the one
 * after it (killed between the rename and its report), never a mix or a torn file. Killed saves
 * leave temporary files, but each save removes those of dead ones: at most the last one is there.
 */
class AtomicSaveKillTest {
    private static final int KILLS = 60;

    @TempDir
    Path dir;

    @Test
    void fileIsAlwaysTheOldOrTheNewCheckpoint() throws Exception {
        Path file = dir.resolve("run.safetensors");
        SplittableRandom random = new SplittableRandom(20240610);
        long lastSaved = 0;
        int newerThanReported = 0;
        int killedMidSave = 0;
        for (int kill = 0; kill < KILLS; kill++) {
            Process child = start(file);
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            List<String> lines = new ArrayList<>();
            // Wait for 1 to 3 reported saves, then kill at a random moment of the saves that follow.
            int wanted = 1 + random.nextInt(3);
            String line = out.readLine();
            while (line != null && lines.size() < wanted) {
                if (line.startsWith("saved ")) {
                    lines.add(line);
                }
                if (lines.size() < wanted) {
                    line = out.readLine();
                }
            }
            if (line == null) {
                child.waitFor();
                fail("the child ended after " + lines.size() + " saves (exit status " + child.exitValue() + ")");
            }
            Thread.sleep(random.nextInt(20));
            // SIGKILL through the handle: Process.destroyForcibly would also close the pipe we still read.
            child.toHandle().destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not die");
            for (line = out.readLine(); line != null; line = out.readLine()) {
                lines.add(line);
            }
            long reported = lastSaved;
            for (String l : lines) {
                if (l.startsWith("saved ")) {
                    reported = Long.parseLong(l.substring(6));
                }
            }
            long generation = checkWhole(file);
            assertTrue(generation == reported || generation == reported + 1, "the file holds generation "
                    + generation + ", the child last reported " + reported);
            if (generation == reported + 1) {
                newerThanReported++;
            }
            lastSaved = generation;
            int left = leftovers(file).size();
            assertTrue(left <= 1, left + " temporary files after kill " + kill + ": " + leftovers(file));
            killedMidSave += left;
        }
        try (Arena arena = Arena.ofConfined(); RMSProp opt = SaveLoop.optimizer(arena)) {
            Checkpoint.save(file, opt);
        }
        assertEquals(List.of(), leftovers(file), "a save after the last kill removes its leftover");
        System.out.printf("kill test: %d SIGKILLs, %d of them between a rename and its report, %d left a temporary "
                + "file (each removed by the next save), final generation %d%n", KILLS, newerThanReported,
                killedMidSave, lastSaved);
    }

    /** The temporary files of saves to {@code file} in its folder. */
    private static List<Path> leftovers(Path file) throws IOException {
        String prefix = "." + file.getFileName() + ".";
        try (Stream<Path> files = Files.list(file.getParent())) {
            return files.filter(p -> p.getFileName().toString().startsWith(prefix)
                    && p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }

    private static Process start(Path file) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), SaveLoop.class.getName(), file.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** Loads the file completely and checks that every value is one generation's; returns it. */
    private static long checkWhole(Path file) throws IOException {
        try (Arena arena = Arena.ofConfined(); RMSProp opt = SaveLoop.optimizer(arena)) {
            MemorySegment model = arena.allocate((long) SaveLoop.MODEL * Float.BYTES, 4);
            Map<String, String> metadata = Checkpoint.load(file, opt, Map.of("model", model));
            long g = Long.parseLong(metadata.get("generation"));
            StateDict sd = opt.stateDict();
            for (int i = 0; i < SaveLoop.SIZES.length; i++) {
                ParamState s = sd.state().get(i);
                assertEquals(g, s.step(), "step of parameter " + i);
                assertAll(s.squareAvg(), SaveLoop.expected(g, 0), "square_avg");
                assertAll(s.momentumBuffer(), SaveLoop.expected(g, 1), "momentum_buffer");
                assertAll(s.gradAvg(), SaveLoop.expected(g, 2), "grad_avg");
            }
            assertAll(model.toArray(ValueLayout.JAVA_FLOAT), SaveLoop.expected(g, 3), "model");
            return g;
        }
    }

    private static void assertAll(float[] values, float expected, String what) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] != expected) {
                fail(what + "[" + i + "] is " + values[i] + ", not " + expected + ": a torn or mixed file");
            }
        }
    }
}
