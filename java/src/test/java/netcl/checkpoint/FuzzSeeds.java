package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import netcl.optim.Parameter;
import netcl.optim.RMSProp;

/**
 * Writes the fuzz target's seed files (valid inputs, so mutations start deep in the loader):
 * {@code java ... netcl.checkpoint.FuzzSeeds DIR}. Their output is committed under
 * src/test/resources/netcl/checkpoint/LoaderFuzzTestInputs/loadsOrRefusesCleanly.
 */
final class FuzzSeeds {
    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Files.createDirectories(Path.of(args[0]));
        try (Arena arena = Arena.ofConfined(); RMSProp opt = LoaderFuzzTest.optimizer(arena)) {
            MemorySegment w = arena.allocate(ValueLayout.JAVA_FLOAT, 2);
            w.setAtIndex(ValueLayout.JAVA_FLOAT, 1, -0.5f);
            Checkpoint.save(dir.resolve("no-state"), opt, Map.of("w", w));
            List<Parameter> params = opt.paramGroups().stream().flatMap(g -> g.params().stream()).toList();
            for (int step = 0; step < 2; step++) {
                for (Parameter p : params) {
                    if (p.grad() != null) {
                        p.grad().setAtIndex(ValueLayout.JAVA_FLOAT, 0, 0.25f + step);
                    }
                }
                opt.step();
            }
            Checkpoint.save(dir.resolve("stepped"), opt, Map.of("w", w));
            Checkpoint.save(dir.resolve("stepped-with-metadata"), opt,
                    Map.of("w", Tensor.f32(w), "b", new Tensor(ElementType.U8, new long[] {2, 0}, arena.allocate(0))),
                    Map.of("epoch", "7"));
            Checkpoint.save(dir.resolve("tensors-only"), null, Map.of("w", w));
        }
        // The reference implementation's own test file: an I32 [2, 2] of zeros.
        Files.write(dir.resolve("reference-i32"), ("<\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],"
                + "\"data_offsets\":[0,16]}}" + "\0".repeat(16)).getBytes(StandardCharsets.ISO_8859_1));
    }
}
