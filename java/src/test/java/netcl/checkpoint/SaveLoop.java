package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.SegmentParamState;
import netcl.optim.SegmentStateDict;
import netcl.optim.Tensors;

/**
 * The child process of {@link AtomicSaveKillTest}: saves generation after generation of a
 * checkpoint to one file until it is killed. Generation {@code g} holds {@code g} in every value
 * (see {@link #expected}), so a file mixing two generations, or torn, is told from a whole one.
 * Prints "ready" once set up and "saved g" after each save returns.
 */
final class SaveLoop {
    static final int[] SIZES = {4096, 70_000};
    static final int MODEL = 300_000;

    private SaveLoop() {
    }

    /** The value generation {@code g} stores in buffer {@code slot} (0 square_avg, 1 momentum, 2 grad_avg, 3 model). */
    static float expected(long g, int slot) {
        return switch (slot) {
            case 0 -> g;
            case 1 -> -g;
            case 2 -> g / 2f;
            default -> g + 0.25f;
        };
    }

    static RMSProp optimizer(Arena arena) {
        Parameter a = Parameter.wrap(Tensors.allocate(arena, SIZES[0]), Tensors.allocate(arena, SIZES[0]));
        Parameter b = Parameter.wrap(Tensors.allocate(arena, SIZES[1]), Tensors.allocate(arena, SIZES[1]));
        return RMSProp.builder().momentum(0.9).centered(true).build(List.of(a, b));
    }

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        long generation = 0;
        if (Files.exists(file)) {
            try (Arena arena = Arena.ofConfined()) {
                generation = Long.parseLong(SafetensorsFile.open(file, arena).metadata().get("generation"));
            }
        }
        try (Arena arena = Arena.ofConfined(); RMSProp opt = optimizer(arena)) {
            MemorySegment[][] buffers = new MemorySegment[SIZES.length][3];
            for (int i = 0; i < SIZES.length; i++) {
                for (int slot = 0; slot < 3; slot++) {
                    buffers[i][slot] = Tensors.allocate(arena, SIZES[i]);
                }
            }
            MemorySegment model = Tensors.allocate(arena, MODEL);
            System.out.println("ready");
            System.out.flush();
            while (true) {
                generation++;
                for (MemorySegment[] param : buffers) {
                    for (int slot = 0; slot < 3; slot++) {
                        fill(param[slot], expected(generation, slot));
                    }
                }
                fill(model, expected(generation, 3));
                opt.loadStateDict(new SegmentStateDict(Map.of(
                        0, new SegmentParamState(generation, buffers[0][0], buffers[0][1], buffers[0][2]),
                        1, new SegmentParamState(generation, buffers[1][0], buffers[1][1], buffers[1][2])), null));
                Checkpoint.save(file, opt, Map.of("model", Tensor.f32(model)),
                        Map.of("generation", Long.toString(generation)));
                System.out.println("saved " + generation);
                System.out.flush();
            }
        }
    }

    private static void fill(MemorySegment segment, float value) {
        for (long i = 0; i < segment.byteSize() / Float.BYTES; i++) {
            segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, value);
        }
    }
}
