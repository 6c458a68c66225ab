package netcl.checkpoint;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.code_intelligence.jazzer.junit.FuzzTest;

import netcl.optim.ParamGroup;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.Tensors;

/**
 * Jazzer fuzz target over the whole loader: any bytes, loaded as a checkpoint into an optimizer
 * and a named tensor, either load or fail with a {@link CheckpointException}; any other
 * exception, an error, a hang or running out of memory is a finding. Seeded with valid files
 * ({@link FuzzSeeds}, in src/test/resources/netcl/checkpoint/LoaderFuzzTestInputs). {@code mvn
 * test} replays the seeds and every crash found so far; {@code scripts/fuzz RUNS} fuzzes.
 */
class LoaderFuzzTest {
    private static final Arena ARENA = Arena.ofShared();
    /** The seeds' optimizer: groups of 3 + 2 floats (momentum and centered; plain), and tensor "w". */
    static final RMSProp OPTIMIZER = optimizer(ARENA);
    static final MemorySegment W = Tensors.allocate(ARENA, 2);
    private static final Path FILE = scratchFile();

    static RMSProp optimizer(Arena arena) {
        Parameter a = Parameter.wrap(Tensors.allocate(arena, 3), Tensors.allocate(arena, 3));
        Parameter b = Parameter.wrap(Tensors.allocate(arena, 2), Tensors.allocate(arena, 2));
        Parameter c = Parameter.wrap(Tensors.allocate(arena, 1), null);
        RMSProp opt = RMSProp.builder().momentum(0.9).centered(true).build(List.of(a, b));
        opt.addParamGroup(ParamGroup.of(List.of(c)).momentum(0).centered(false).weightDecay(0.1));
        return opt;
    }

    private static Path scratchFile() {
        try {
            Path shm = Path.of("/dev/shm");
            Path file = Files.createTempFile(Files.isDirectory(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir")),
                    "netcl-fuzz-", ".safetensors");
            file.toFile().deleteOnExit();
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The target, also for Jazzer's standalone driver (scripts/fuzz). */
    public static void fuzzerTestOneInput(byte[] input) throws IOException {
        Files.write(FILE, input);
        try {
            Checkpoint.load(FILE, OPTIMIZER, Map.of("w", W));
        } catch (CheckpointException refused) {
            // A refused file is the loader doing its job.
        }
    }

    @FuzzTest(maxDuration = "60s")
    void loadsOrRefusesCleanly(byte[] input) throws IOException {
        fuzzerTestOneInput(input);
    }
}
