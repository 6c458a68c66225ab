package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import netcl.checkpoint.Checkpoint;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.Tensors;

/**
 * Times {@link Checkpoint#save} (to disk, fsync included) and {@link Checkpoint#load} (from the
 * page cache, mapped) of an RMSProp state with momentum and centered (three buffers per
 * parameter), after two warm-up rounds. Usage: {@code CheckpointBench SIZE FILE REPEATS}, SIZE a number of floats or
 * "resnet50" (see {@link Sizes}). Prints "key value" lines; scripts/bench-checkpoint compares
 * them with dd and torch.save/torch.load in the same run. Measures; asserts nothing.
 */
public final class CheckpointBench {
    private CheckpointBench() {
    }

    public static void main(String[] args) throws Exception {
        long[] numels = Sizes.of(args[0]);
        Path file = Path.of(args[1]);
        int repeats = Integer.parseInt(args[2]);
        long total = Sizes.total(numels);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment data = Tensors.allocate(arena, total);
            MemorySegment grad = Tensors.allocate(arena, total);
            grad.fill((byte) 0x3c);   // about 0.012 everywhere: every buffer gets non-zero state
            List<Parameter> params = new ArrayList<>();
            long at = 0;
            for (long n : numels) {
                params.add(Parameter.wrap(data.asSlice(at * Float.BYTES, n * Float.BYTES),
                        grad.asSlice(at * Float.BYTES, n * Float.BYTES)));
                at += n;
            }
            try (RMSProp opt = RMSProp.builder().momentum(0.9).centered(true).build(params)) {
                opt.step();
                for (int warmup = 0; warmup < 2; warmup++) {   // JIT, page cache and file system warm
                    Checkpoint.save(file, opt);
                    Checkpoint.load(file, opt);
                }
                double[] save = new double[repeats];
                double[] load = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    long t = System.nanoTime();
                    Checkpoint.save(file, opt);
                    save[r] = (System.nanoTime() - t) / 1e9;
                    t = System.nanoTime();
                    Checkpoint.load(file, opt);
                    load[r] = (System.nanoTime() - t) / 1e9;
                }
                float probe = opt.stateDict(arena).state().get(0).squareAvg().get(ValueLayout.JAVA_FLOAT, 0);
                System.out.printf(Locale.ROOT, "tensors %d%nfloats %d%nbytes %d%nsave_s %.4f%nload_s %.4f%n"
                        + "save_all %s%nload_all %s%nprobe %s%n", numels.length, total, Files.size(file),
                        median(save), median(load), Arrays.toString(save), Arrays.toString(load), probe);
            }
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
