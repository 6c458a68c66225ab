package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import netcl.dist.Communicator;
import netcl.dist.ShardedRMSProp;
import netcl.optim.Parameter;
import netcl.optim.Tensors;

/**
 * Step time, time in communication and optimizer state per rank of {@link ShardedRMSProp}, run
 * under {@code mpirun -np W}: {@code ShardedStepBench SIZE STEPS [contiguous]} with SIZE a number
 * of floats or {@code resnet50} (see {@link Sizes}). Each tensor and gradient is allocated apart,
 * or with {@code contiguous} as slices of one parameter buffer and one gradient buffer (which
 * ShardedRMSProp communicates in place); the gradients alternate between two such sets
 * ({@link Gradients}). Each rank prints one line; the first steps warm up.
 */
public final class ShardedStepBench {
    private ShardedStepBench() {
    }

    public static void main(String[] args) {
        long[] numels = Sizes.of(args[0]);
        int steps = Integer.parseInt(args[1]);
        boolean contiguous = args.length > 2 && args[2].equals("contiguous");
        int warmup = Math.max(1, steps / 5);
        try (Communicator comm = Communicator.world(); Arena arena = Arena.ofConfined()) {
            long total = Sizes.total(numels);
            MemorySegment allData = contiguous ? Tensors.allocate(arena, total) : null;
            Block[] gradBlocks = {Block.allocate(arena, numels, Gradients.EVEN),
                Block.allocate(arena, numels, Gradients.ODD)};
            // grads[k % 2][t]: parameter t's gradient at step k (see Gradients).
            MemorySegment[][] grads = new MemorySegment[2][numels.length];
            List<Parameter> params = new ArrayList<>();
            long offset = 0;
            for (int t = 0; t < numels.length; t++) {
                long n = numels[t];
                MemorySegment data = contiguous ? allData.asSlice(offset * Float.BYTES, n * Float.BYTES)
                        : Tensors.allocate(arena, n);
                offset += n;
                for (int parity = 0; parity < 2; parity++) {
                    MemorySegment inBlock = gradBlocks[parity].slices[t];
                    grads[parity][t] = contiguous ? inBlock : Tensors.allocate(arena, n).copyFrom(inBlock);
                }
                params.add(Parameter.wrap(data, grads[0][t]));
            }
            try (ShardedRMSProp opt = ShardedRMSProp.builder(comm).lr(1e-3).build(params)) {
                int step = 0;
                for (; step < warmup; step++) {
                    step(opt, params, grads[(step + 1) % 2]);
                }
                comm.barrier();
                long communication = comm.communicationNanos();
                long start = System.nanoTime();
                for (; step < warmup + steps; step++) {
                    step(opt, params, grads[(step + 1) % 2]);
                }
                long nanos = System.nanoTime() - start;
                System.out.println(String.format(Locale.ROOT, "RESULT size=%s layout=%s ranks=%d rank=%d floats=%d "
                        + "shard=%d stateBytes=%d stepMs=%.3f commMs=%.3f", args[0], contiguous ? "contiguous" : "apart",
                        comm.size(), comm.rank(), total, opt.shardSize(), opt.stateBytes(), nanos / 1e6 / steps,
                        (comm.communicationNanos() - communication) / 1e6 / steps));
            }
        }
    }

    /** One step, then the parameters take {@code next}, the next step's gradients. */
    private static void step(ShardedRMSProp opt, List<Parameter> params, MemorySegment[] next) {
        opt.step();
        for (int t = 0; t < next.length; t++) {
            params.get(t).grad(next[t]);
        }
    }
}
