package netcl.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import netcl.checkpoint.SafetensorsFile;

/**
 * Runs {@link MpiScenarios} under {@code mpirun} (Open MPI, which scripts/setup installs), one JVM
 * per rank, 2 and 3 ranks oversubscribed on this machine's cores.
 */
class MpiLaunchTest {
    /**
     * With 3 or more ranks MPI sums the gradients in its own order: the mean differs from the
     * reference's ((g0 + g1) + g2) / 3 by a few ulps, which RMSProp's division by sqrt(v) (and
     * sqrt(v - ga^2) when centered, where it cancels) carries into parameters and state. After 6
     * steps the largest difference seen, relative above 1 and absolute below, was 8.3e-6 (4 ranks,
     * centered with momentum); the bound leaves a decade more.
     */
    static final String UNEVEN_TOLERANCE = "1e-4";
    /** How long the other ranks may outlive a rank killed mid-step (mpirun ends them). */
    static final long KILL_BOUND_SECONDS = 30;

    @TempDir
    Path dir;

    private record Run(int exitCode, List<String> lines, long killToExitMillis) {
        String output() {
            return String.join("\n", lines);
        }
    }

    private static Run mpirun(int ranks, String... args) throws IOException, InterruptedException {
        return mpirun(ranks, List.of(), MpiScenarios.class, args);
    }

    /** {@code main}'s main method on {@code ranks} ranks, each JVM with {@code jvmOptions}. */
    private static Run mpirun(int ranks, List<String> jvmOptions, Class<?> main, String... args)
            throws IOException, InterruptedException {
        String mpirun = findMpirun();
        List<String> command = new ArrayList<>(List.of(mpirun, "--allow-run-as-root", "--oversubscribe", "-np",
                Integer.toString(ranks), ProcessHandle.current().info().command().orElseThrow(),
                "--enable-native-access=ALL-UNNAMED"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        long killedAt = 0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            for (String line; (line = out.readLine()) != null; ) {
                lines.add(line);
                if (line.startsWith("KILLING")) {
                    killedAt = System.nanoTime();
                }
            }
        }
        // Output ends when every rank and mpirun closed it; 5 minutes covers a slow machine's start.
        assertTrue(process.waitFor(300, TimeUnit.SECONDS), "mpirun did not end:\n" + String.join("\n", lines));
        long killToExit = killedAt == 0 ? -1 : (System.nanoTime() - killedAt) / 1_000_000;
        return new Run(process.exitValue(), lines, killToExit);
    }

    private static String findMpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            File candidate = new File(dir, "mpirun");
            if (candidate.canExecute()) {
                return candidate.getPath();
            }
        }
        throw new AssertionError("mpirun is not on PATH: the MPI tests need Open MPI (apt-get install "
                + "openmpi-bin libopenmpi-dev; scripts/setup installs it)");
    }

    /** Occurrences in the whole output: the ranks' lines reach it interleaved. */
    private static int count(Run run, String text) {
        int n = 0;
        for (int at = run.output().indexOf(text); at >= 0; at = run.output().indexOf(text, at + 1)) {
            n++;
        }
        return n;
    }

    private static void assertAllRanksOk(Run run, int ranks) {
        assertEquals(0, run.exitCode(), run.output());
        assertEquals(ranks, count(run, "ok=true"), run.output());
    }

    @Test
    void twoRanksAreBitForBitTheAveragedSingleProcessRun() throws Exception {
        assertAllRanksOk(mpirun(2, "exact", "0"), 2);
    }

    @Test
    void twoRanksAreBitForBitWithEveryOption() throws Exception {
        assertAllRanksOk(mpirun(2, "exact", "0", "momentum=0.9"), 2);
        assertAllRanksOk(mpirun(2, "exact", "0", "centered"), 2);
        assertAllRanksOk(mpirun(2, "exact", "0", "weightDecay=0.1"), 2);
        assertAllRanksOk(mpirun(2, "exact", "0", "maximize"), 2);
        assertAllRanksOk(mpirun(2, "exact", "0", "momentum=0.9", "centered", "weightDecay=0.01", "maximize"), 2);
        // Parameters and gradients each in one buffer: the collectives work on them in place.
        assertAllRanksOk(mpirun(2, "exact", "0", "momentum=0.9", "centered", "contiguous"), 2);
    }

    @Test
    void threeRanksWithUnevenShardsAgreeWithinTheStatedTolerance() throws Exception {
        assertAllRanksOk(mpirun(3, "exact", UNEVEN_TOLERANCE, "momentum=0.9", "centered", "weightDecay=0.01"), 3);
        assertAllRanksOk(mpirun(3, "exact", UNEVEN_TOLERANCE, "momentum=0.9", "contiguous"), 3);
        Run run = mpirun(3, "exact", UNEVEN_TOLERANCE);
        assertAllRanksOk(run, 3);
        // Shards of 1399 floats over 3 ranks: each within one 32-float chunk of 466.3.
        Matcher shard = Pattern.compile("shard=(\\d+)").matcher(run.output());
        int shards = 0;
        while (shard.find()) {
            assertTrue(Math.abs(Integer.parseInt(shard.group(1)) - 1399.0 / 3) < ShardLayout.CHUNK, run.output());
            shards++;
        }
        assertEquals(3, shards, run.output());
    }

    @Test
    void oneRankIsTheSingleProcessRun() throws Exception {
        assertAllRanksOk(mpirun(1, "exact", "0", "momentum=0.9", "centered"), 1);
    }

    @Test
    void mismatchedConfigurationsFailOnEveryRankWithAClearMessage() throws Exception {
        Run run = mpirun(2, "mismatch");
        assertEquals(0, run.exitCode(), run.output());
        for (String expected : List.of("MISMATCH count: the ranks' optimizers differ in the number of parameters "
                        + "(from 2 to 3)", "MISMATCH sizes: the ranks' optimizers differ in the parameters' sizes",
                "MISMATCH options: the ranks' optimizers differ in the groups' options",
                "MISMATCH grad: parameter 0 has a gradient on some ranks and none on others",
                "MISMATCH schedule: the ranks' parameter groups have different options")) {
            assertEquals(2, count(run, expected), run.output());
        }
    }

    @Test
    void aRankKilledMidStepEndsTheJobWithinTheBoundAndLeavesAResumableCheckpoint() throws Exception {
        Path killed = dir.resolve("killed.safetensors");
        Run run = mpirun(2, "kill", killed.toString());
        assertNotEquals(0, run.exitCode(), run.output());
        assertTrue(run.killToExitMillis() >= 0, run.output());
        assertTrue(run.killToExitMillis() < KILL_BOUND_SECONDS * 1000,
                "the job outlived its killed rank by " + run.killToExitMillis() + " ms:\n" + run.output());
        assertTrue(run.output().contains("exited on signal 9"), run.output());
        // The ranks saved before every step: the file is the one saved before the killed step, and
        // no temporary file of an unfinished save is left.
        try (var files = Files.list(dir)) {
            assertEquals(List.of(killed), files.toList(), run.output());
        }
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(Integer.toString(MpiScenarios.KILL_STEP),
                    SafetensorsFile.open(killed, arena).metadata().get(MpiScenarios.STEP));
        }
        // Resumable in one process and on two ranks, bit for bit alike.
        String until = Integer.toString(MpiScenarios.KILL_STEP + 3);
        MpiScenarios.singleProcess(2, MpiScenarios.KILL_STEP + 3, -1, null, file("resumed-single"), killed);
        assertAllRanksOk(mpirun(2, "checkpoint", until, "-1", "-", file("resumed-2").toString(), killed.toString()), 2);
        assertSameFile(file("resumed-single"), file("resumed-2"));
    }

    @Test
    void aRankKilledDuringSavesLeavesTheLastCompleteCheckpoint() throws Exception {
        Path saving = dir.resolve("saving.safetensors");
        Run run = mpirun(2, "killsave", saving.toString());
        assertNotEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("exited on signal 9"), run.output());
        assertTrue(run.killToExitMillis() >= 0 && run.killToExitMillis() < KILL_BOUND_SECONDS * 1000, run.output());
        // The checkpoint and at most the temporary file of the save the kill cut short.
        String temporary = "\\.saving\\.safetensors\\.[0-9a-f]+\\.tmp";
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                assertTrue(f.equals(saving) || f.getFileName().toString().matches(temporary), f + "\n" + run.output());
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            int save = Integer.parseInt(SafetensorsFile.open(saving, arena).metadata().get(MpiScenarios.SAVE));
            assertTrue(save >= MpiScenarios.KILL_SAVE - 1, "the last complete save is " + save);
        }
        // Whole and resumable: one process loads it and steps on.
        MpiScenarios.singleProcess(2, 2, -1, null, file("after-kill"), saving);
        assertTrue(Files.size(file("after-kill")) > 0);
        // The next sharded save there removes the temporary files that dead saves left (nobody holds
        // their lock): the killed save's, if any, and one planted here.
        Files.writeString(dir.resolve(".saving.safetensors.0123456789abcdef.tmp"), "a dead save's");
        assertAllRanksOk(mpirun(2, "checkpoint", "2", "-1", "-", saving.toString(), saving.toString()), 2);
        try (var files = Files.list(dir)) {
            assertEquals(Set.of(saving, file("after-kill")), Set.copyOf(files.toList()), run.output());
        }
    }

    private Path file(String name) {
        return dir.resolve(name + ".safetensors");
    }

    /** A checkpoint of {@code ranks} ranks: {@code checkpoint UNTIL MID_AT MID FINAL [RESUME]}. */
    private void checkpointRun(int ranks, int midAt, String mid, String fin, String resume) throws Exception {
        List<String> args = new ArrayList<>(List.of("checkpoint", "6", Integer.toString(midAt),
                mid == null ? "-" : file(mid).toString(), file(fin).toString()));
        if (resume != null) {
            args.add(file(resume).toString());
        }
        assertAllRanksOk(mpirun(ranks, args.toArray(String[]::new)), ranks);
    }

    private static void assertSameFile(Path expected, Path actual) throws IOException {
        assertEquals(-1, Files.mismatch(expected, actual), expected + " and " + actual + " differ");
    }

    /** The same metadata and tensors, every value within {@code tolerance} (see {@link MpiScenarios#diff}). */
    private static void assertWithin(String tolerance, Path expected, Path actual) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile a = SafetensorsFile.open(expected, arena);
            SafetensorsFile b = SafetensorsFile.open(actual, arena);
            assertEquals(a.metadata(), b.metadata());
            assertEquals(a.tensors().keySet(), b.tensors().keySet());
            double worst = 0;
            for (String name : a.tensors().keySet()) {
                float[] x = a.tensors().get(name).data().toArray(ValueLayout.JAVA_FLOAT);
                float[] y = b.tensors().get(name).data().toArray(ValueLayout.JAVA_FLOAT);
                assertEquals(x.length, y.length, name);
                for (int k = 0; k < x.length; k++) {
                    worst = Math.max(worst, MpiScenarios.diff(x[k], y[k]));
                }
            }
            assertTrue(worst <= Double.parseDouble(tolerance), "largest difference " + worst);
        }
    }

    @Test
    void aShardedCheckpointIsTheSingleProcessFileAndResumesInOneProcess() throws Exception {
        // Two ranks with a checkpoint before step 3: byte for byte the files of one process
        // stepped with the averaged gradients (names, layout, state, tensors, metadata).
        checkpointRun(2, 3, "mid2", "final2", null);
        MpiScenarios.singleProcess(2, 6, 3, file("single-mid2"), file("single-final2"), null);
        assertSameFile(file("single-mid2"), file("mid2"));
        assertSameFile(file("single-final2"), file("final2"));
        // One process resuming the two ranks' checkpoint ends where the uninterrupted run did,
        MpiScenarios.singleProcess(2, 6, -1, null, file("final2-in-one"), file("mid2"));
        assertSameFile(file("final2"), file("final2-in-one"));
        // and two ranks resuming one process's checkpoint too.
        checkpointRun(2, -1, null, "final2-from-one", "single-mid2");
        assertSameFile(file("final2"), file("final2-from-one"));
    }

    @Test
    void aShardedCheckpointResumesOnAnotherNumberOfRanks() throws Exception {
        checkpointRun(2, 3, "mid2", "final2", null);
        // Three ranks resume two ranks' checkpoint: MPI's order of the sum, so within the tolerance
        // of one process resuming it with the three ranks' averaged gradients.
        checkpointRun(3, -1, null, "final3-from2", "mid2");
        MpiScenarios.singleProcess(3, 6, -1, null, file("final3-from2-in-one"), file("mid2"));
        assertWithin(UNEVEN_TOLERANCE, file("final3-from2-in-one"), file("final3-from2"));
        // Two ranks resume three ranks' checkpoint: bit for bit one process resuming it.
        checkpointRun(3, 3, "mid3", "final3", null);
        checkpointRun(2, -1, null, "final2-from3", "mid3");
        MpiScenarios.singleProcess(2, 6, -1, null, file("final2-from3-in-one"), file("mid3"));
        assertSameFile(file("final2-from3-in-one"), file("final2-from3"));
    }

    @Test
    void checkpointsThatARankCannotSaveOrLoadFailOnEveryRankAndChangeNothing() throws Exception {
        Run run = mpirun(2, "refusals", dir.toString());
        assertAllRanksOk(run, 2);
        for (String expected : List.of("REFUSAL reserved-on-one-rank: IllegalArgumentException: metadata key "
                        + "'state.0.step' is reserved", "REFUSAL reserved-on-one-rank: IOException: " + dir
                        + "/good.safetensors: another rank could not start saving the checkpoint",
                "REFUSAL missing-folder: NoSuchFileException", "REFUSAL missing-folder: IOException: " + dir
                        + "/none/x: another rank could not start saving",
                "REFUSAL missing-on-one-rank: NoSuchFileException", "REFUSAL missing-on-one-rank: CheckpointException: "
                        + dir + "/good.safetensors: another rank could not load it",
                "REFUSAL other-model: CheckpointException: " + dir + "/other.safetensors: tensor 'state.5.square_avg' "
                        + "has 65 elements")) {
            int ranks = expected.startsWith("REFUSAL other-model") ? 2 : 1;
            assertEquals(ranks, count(run, expected), expected + " in\n" + run.output());
        }
    }

    @Test
    void aRefusedParamGroupFailsOnEveryRankAndChangesNothing() throws Exception {
        Run run = mpirun(2, "addgroup");
        assertAllRanksOk(run, 2);
        for (String expected : List.of("GROUP options: IllegalStateException: the ranks' optimizers differ in the "
                        + "groups' options", "GROUP count: IllegalStateException: the ranks' optimizers differ in the "
                        + "number of parameters (from 5 to 6)", "GROUP duplicate: IllegalArgumentException: some "
                        + "parameters appear in more than one parameter group",
                "GROUP claimed: IllegalArgumentException: this ParamGroup already belongs to an optimizer")) {
            assertEquals(2, count(run, expected), expected + " in\n" + run.output());
        }
        assertEquals(1, count(run, "GROUP null-on-one-rank: IllegalArgumentException: group is null"), run.output());
        assertEquals(1, count(run, "GROUP null-on-one-rank: IllegalStateException: rank 0: another rank refused the "
                + "new parameter group"), run.output());
    }

    @Test
    void aCommunicatorRefusesBadArgumentsWithNothingChangedAndEveryCallOnceClosed() throws Exception {
        assertAllRanksOk(mpirun(2, List.of(), CommunicatorChecks.class), 2);
    }

    @Test
    void theJvmKeepsItsSignalHandlersUnderMpi() throws Exception {
        // -Xcheck:jni reports a JVM signal handler that native code replaced ("handler modified").
        Run run = mpirun(2, List.of("-Xcheck:jni"), MpiScenarios.class, "signals");
        assertEquals(0, run.exitCode(), run.output());
        assertFalse(run.output().contains("handler"), run.output());
        assertEquals(2, count(run, "null checks caught=3000000"), run.output());
    }
}
