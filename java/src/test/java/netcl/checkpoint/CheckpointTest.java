package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import netcl.optim.ParamState;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;
import netcl.optim.Tensors;

/** Saving and loading whole training states: exact round trips, the file's layout, what it refuses to write. */
class CheckpointTest {
    @TempDir
    Path dir;

    @Test
    void resumedTrainingContinuesBitForBit() throws IOException {
        Path file = dir.resolve("run.safetensors");
        float[][] uninterrupted;
        try (TrainingState run = new TrainingState(1)) {
            run.steps(0, 7);
            Checkpoint.save(file, run.optimizer, run.named());
            run.steps(7, 12);
            uninterrupted = run.values();
        }
        // A new "process": fresh tensors with other values, a fresh optimizer with other options.
        try (TrainingState resumed = new TrainingState(99)) {
            resumed.optimizer.paramGroups().get(1).lr(0.5).weightDecay(0);
            Checkpoint.load(file, resumed.optimizer, resumed.named());
            resumed.steps(7, 12);
            float[][] values = resumed.values();
            for (int i = 0; i < values.length; i++) {
                assertArrayEquals(uninterrupted[i], values[i], "parameter " + i);
            }
        }
    }

    @Test
    void stateAndHyperparametersRoundTripExactly() throws IOException {
        Path file = dir.resolve("state.safetensors");
        try (TrainingState a = new TrainingState(1); TrainingState b = new TrainingState(2)) {
            a.steps(0, 4);
            a.optimizer.paramGroups().get(1).lr(0.1 / 3).eps(1e-7).alpha(0.95).maximize(true);
            Checkpoint.save(file, a.optimizer);
            Checkpoint.load(file, b.optimizer);
            TrainingState.StateDicts.assertBitIdentical(a.optimizer.stateDict(), b.optimizer.stateDict());
            StateDict sd = b.optimizer.stateDict();
            assertEquals(0.1 / 3, sd.paramGroups().get(1).lr());
            assertEquals(1e-7, sd.paramGroups().get(1).eps());
            assertTrue(sd.paramGroups().get(1).maximize());
            // Parameter 2 stepped on even steps only: 0 and 2.
            assertEquals(2, sd.state().get(2).step());
            assertEquals(4, sd.state().get(0).step());
        }
    }

    @Test
    void loadingAnEarlierCheckpointReplacesLaterState() throws IOException {
        Path file = dir.resolve("empty.safetensors");
        try (TrainingState a = new TrainingState(1)) {
            Checkpoint.save(file, a.optimizer);   // before any step: no state at all
            a.steps(0, 3);
            Checkpoint.load(file, a.optimizer);
            assertTrue(a.optimizer.stateDict().state().isEmpty());
        }
    }

    @Test
    void fileLayoutIsSafetensorsWithPyTorchNames() throws IOException {
        Path file = dir.resolve("layout.safetensors");
        try (TrainingState a = new TrainingState(1); Arena arena = Arena.ofConfined()) {
            a.steps(0, 2);
            MemorySegment counts = arena.allocate(ValueLayout.JAVA_LONG, 3);
            MemorySegment bytes = arena.allocate(3);
            Map<String, Tensor> extra = new LinkedHashMap<>();
            extra.put("bytes", new Tensor(ElementType.U8, new long[] {3}, bytes));
            extra.put("w", new Tensor(ElementType.F32, new long[] {1, 5}, a.data.get(0)));
            extra.put("counts", new Tensor(ElementType.I64, new long[] {3}, counts));
            Checkpoint.save(file, a.optimizer, extra, Map.of("epoch", "3"));

            byte[] raw = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8, "header length is a multiple of 8");
            String header = new String(raw, 8, (int) n, StandardCharsets.UTF_8);
            assertTrue(header.startsWith("{\"__metadata__\":{\"format_version\":\"1\""), header);
            assertTrue(header.contains("\"state.1.momentum_buffer\":{\"dtype\":\"F32\",\"shape\":[4099]"), header);
            assertTrue(header.contains("\"state.2.step\":\"1\""), header);
            assertTrue(header.contains("\"param_groups\":\"[{\\\"lr\\\":"), header);
            assertEquals(header.stripTrailing().length() + (n - header.stripTrailing().length()), n);
            assertTrue(header.substring(header.stripTrailing().length()).chars().allMatch(c -> c == ' '));

            SafetensorsFile f = SafetensorsFile.open(file, arena);
            assertEquals("3", f.metadata().get("epoch"));
            // The 8-byte type first, the byte type last: every tensor aligned to its element size.
            List<String> order = List.copyOf(f.tensors().keySet());
            assertEquals("counts", order.getFirst());
            assertEquals("bytes", order.getLast());
            for (Tensor t : f.tensors().values()) {
                assertEquals(0, t.data().address() % (t.type().bits() / 8), t.toString());
                assertTrue(t.data().isReadOnly());
            }
            assertArrayEquals(new long[] {1, 5}, f.tensors().get("w").shape());
            assertArrayEquals(a.optimizer.stateDict().state().get(1).gradAvg(),
                    f.tensors().get("state.1.grad_avg").data().toArray(ValueLayout.JAVA_FLOAT));
            assertEquals(Stream.of("state.0.square_avg", "state.0.momentum_buffer", "state.0.grad_avg",
                    "state.1.square_avg", "state.1.momentum_buffer", "state.1.grad_avg", "state.2.square_avg")
                    .sorted().toList(), order.stream().filter(s -> s.startsWith("state.")).sorted().toList());
        }
    }

    @Test
    void savingReplacesTheFileAndLeavesNoTemporaryFile() throws IOException {
        Path file = dir.resolve("replace.safetensors");
        try (TrainingState a = new TrainingState(1)) {
            Checkpoint.save(file, null, a.named());
            a.steps(0, 1);
            Checkpoint.save(file, a.optimizer, a.named());
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(List.of(file), files.toList());
            }
            try (Arena arena = Arena.ofConfined()) {
                assertTrue(SafetensorsFile.open(file, arena).tensors().containsKey("state.0.square_avg"));
            }
        }
    }

    @Test
    void aSaveRemovesDeadSavesLeftoversButNotALiveSaversFile() throws IOException {
        Path file = dir.resolve("run.safetensors");
        Path dead = dir.resolve(".run.safetensors.0123456789abcdef.tmp");
        Path live = dir.resolve(".run.safetensors.fedcba9876543210.tmp");
        List<Path> notLeftovers = List.of(dir.resolve(".run.safetensors.backup.tmp"),
                dir.resolve(".run.safetensors.0123456789ABCDEF.tmp"), dir.resolve("run.safetensors.0123456789abcdef.tmp"),
                dir.resolve(".other.safetensors.0123456789abcdef.tmp"), dir.resolve(".run.safetensors.0123456789abcdef.tmp.x"));
        Files.write(dead, new byte[] {1, 2, 3});
        for (Path p : notLeftovers) {
            Files.write(p, new byte[] {4});
        }
        try (TrainingState a = new TrainingState(1); PosixFile liveSave = PosixFile.create(live)) {
            liveSave.lock(true);   // what a save in progress holds, here or in another process
            a.steps(0, 1);
            Checkpoint.save(file, a.optimizer);
            assertFalse(Files.exists(dead), "a dead save's leftover stays");
            assertTrue(Files.exists(live), "a live save's temporary file was removed");
            liveSave.close();      // that save died
            Checkpoint.save(file, a.optimizer);
            assertFalse(Files.exists(live), "the dead save's leftover stays");
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(Stream.concat(Stream.of(file), notLeftovers.stream()).sorted().toList(), files.sorted().toList());
            }
            for (Path p : notLeftovers) {
                assertArrayEquals(new byte[] {4}, Files.readAllBytes(p));
            }
        }
    }

    @Test
    void aSaveThatFailsWhileWritingKeepsTheOldFileAndLeavesNoTemporaryFile() throws IOException {
        Path file = dir.resolve("kept.safetensors");
        try (TrainingState a = new TrainingState(1)) {
            a.steps(0, 2);
            Checkpoint.save(file, a.optimizer);
            byte[] before = Files.readAllBytes(file);
            a.optimizer.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Checkpoint.save(file, a.optimizer));
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(file));
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(List.of(file), files.toList());
            }
        }
    }

    /**
     * A save while another thread steps writes one step's state: the steps in the file and every
     * buffer are those of an optimizer stepped that many times on the same (constant) gradients.
     */
    @Test
    void aSaveWhileAnotherThreadStepsIsOneStepsState() throws Exception {
        Path file = dir.resolve("snapshot.safetensors");
        int[] sizes = {300_000, 100_000};
        try (Arena arena = Arena.ofShared()) {
            List<Parameter> stepped = new ArrayList<>();
            List<Parameter> reference = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                MemorySegment grad = Tensors.of(arena, TrainingState.random(10 + i, sizes[i]));
                stepped.add(Parameter.wrap(Tensors.of(arena, TrainingState.random(i, sizes[i])), grad));
                reference.add(Parameter.wrap(Tensors.of(arena, TrainingState.random(i, sizes[i])), grad));
            }
            try (RMSProp opt = RMSProp.builder().momentum(0.9).centered(true).build(stepped);
                 RMSProp ref = RMSProp.builder().momentum(0.9).centered(true).build(reference)) {
                opt.step();   // state from the first save on
                AtomicBoolean stop = new AtomicBoolean();
                Thread stepper = new Thread(() -> {
                    while (!stop.get()) {
                        opt.step();
                    }
                });
                stepper.start();
                long refSteps = 0;
                Set<Long> seen = new HashSet<>();
                try {
                    for (int save = 0; save < 12; save++) {
                        Checkpoint.save(file, opt);
                        try (Arena read = Arena.ofConfined()) {
                            SafetensorsFile f = SafetensorsFile.open(file, read);
                            long steps = Long.parseLong(f.metadata().get("state.0.step"));
                            assertEquals(Long.toString(steps), f.metadata().get("state.1.step"));
                            for (; refSteps < steps; refSteps++) {
                                ref.step();
                            }
                            StateDict expected = ref.stateDict();
                            for (int i = 0; i < sizes.length; i++) {
                                ParamState e = expected.state().get(i);
                                assertArrayEquals(e.squareAvg(), floats(f, "state." + i + ".square_avg"), "step " + steps);
                                assertArrayEquals(e.momentumBuffer(), floats(f, "state." + i + ".momentum_buffer"));
                                assertArrayEquals(e.gradAvg(), floats(f, "state." + i + ".grad_avg"));
                            }
                            seen.add(steps);
                        }
                    }
                } finally {
                    stop.set(true);
                    stepper.join();
                }
                assertTrue(seen.size() > 1, "the other thread stepped between saves: " + seen);
            }
        }
    }

    private static float[] floats(SafetensorsFile f, String name) {
        return f.tensors().get(name).data().toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void savingIntoAMissingFolderNamesTheFileAndCreatesNothing() throws IOException {
        Path file = dir.resolve("missing").resolve("run.safetensors");
        try (TrainingState a = new TrainingState(1)) {
            a.steps(0, 1);
            NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> Checkpoint.save(file, a.optimizer));
            assertTrue(e.getMessage().contains(dir.resolve("missing").toString()), e.getMessage());
            assertTrue(e.getMessage().contains("No such file or directory"), e.getMessage());
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(0, files.count());
            }
        }
    }

    @Test
    void reservedNamesAndClosedTensorsAreRefusedBeforeWriting() throws IOException {
        Path file = dir.resolve("refused.safetensors");
        try (TrainingState a = new TrainingState(1)) {
            MemorySegment w = a.data.get(0);
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(file, a.optimizer, Map.of("state.0.x", w)));
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(file, a.optimizer, Map.of("__metadata__", w)));
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(file, a.optimizer, Map.of(),
                    Map.of("param_groups", "[]")));
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(file, a.optimizer, Map.of(),
                    Map.of("format_version", "9")));
            MemorySegment closed;
            try (Arena arena = Arena.ofConfined()) {
                closed = arena.allocate(8);
            }
            assertThrows(IllegalArgumentException.class, () -> Checkpoint.save(file, null, Map.of("x", closed)));
            assertFalse(Files.exists(file));
            try (Stream<Path> files = Files.list(dir)) {
                assertEquals(0, files.count(), "no temporary file is left behind");
            }
        }
    }

    @Test
    void tensorsOnlyFilesNeedNoOptimizer() throws IOException {
        Path file = dir.resolve("model.safetensors");
        try (TrainingState a = new TrainingState(1); TrainingState b = new TrainingState(2)) {
            Checkpoint.save(file, null, a.named());
            Checkpoint.load(file, null, b.named());
            assertArrayEquals(a.values()[1], b.values()[1]);
            CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.load(file, b.optimizer));
            assertTrue(e.getMessage().contains("param_groups"), e.getMessage());
        }
    }

    @Test
    void stateReadBackMatchesTheFloatArrayForm() throws IOException {
        Path file = dir.resolve("compare.safetensors");
        try (TrainingState a = new TrainingState(3); Arena arena = Arena.ofConfined()) {
            a.steps(0, 3);
            Checkpoint.save(file, a.optimizer);
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            for (Map.Entry<Integer, ParamState> e : a.optimizer.stateDict().state().entrySet()) {
                assertArrayEquals(e.getValue().squareAvg(), f.tensors().get("state." + e.getKey() + ".square_avg")
                        .data().toArray(ValueLayout.JAVA_FLOAT));
                assertEquals(Long.toString(e.getValue().step()), f.metadata().get("state." + e.getKey() + ".step"));
            }
        }
    }
}
