package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import netcl.optim.Tensors;

/**
 * A parameter list laid out the way netcl serves best and a framework would hold it: every
 * tensor (data, gradient, or optimizer state) is a slice of one zero-copy block, one after the
 * other. The values follow netcl-bench's, so that both harnesses step the same numbers.
 */
final class Block {
    final MemorySegment whole;
    final MemorySegment[] slices;

    private Block(MemorySegment whole, MemorySegment[] slices) {
        this.whole = whole;
        this.slices = slices;
    }

    /** A block of {@code numels} tensors where float i holds {@code value * (1 + i % 7)}. */
    static Block allocate(Arena arena, long[] numels, float value) {
        MemorySegment whole = Tensors.allocate(arena, Sizes.total(numels));
        for (long i = 0; i < whole.byteSize() / Float.BYTES; i++) {
            whole.setAtIndex(ValueLayout.JAVA_FLOAT, i, value * (1 + i % 7));
        }
        MemorySegment[] slices = new MemorySegment[numels.length];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            slices[t] = whole.asSlice(at * Float.BYTES, numels[t] * Float.BYTES);
            at += numels[t];
        }
        return new Block(whole, slices);
    }
}
