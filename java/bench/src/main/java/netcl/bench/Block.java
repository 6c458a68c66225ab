package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import netcl.optim.Parameter;
import netcl.optim.Tensors;

/**
 * A parameter list laid out the way netcl serves best and a framework would hold it: every
 * tensor (data, gradient, or optimizer state) is a slice of one zero-copy block, one after the
 * other. The values follow netcl-bench's, so that both harnesses step the same numbers; a
 * harness keeps one block per gradient set of {@link Gradients}.
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

    /** Makes tensor t of this block the gradient of {@code params.get(t)}, for every t. */
    void setAsGrads(List<Parameter> params) {
        for (int t = 0; t < slices.length; t++) {
            params.get(t).grad(slices[t]);
        }
    }

    /** Whether every float of the block is finite (false once an optimizer stepping it diverged). */
    boolean allFinite() {
        for (long i = 0; i < whole.byteSize() / Float.BYTES; i++) {
            if (!Float.isFinite(whole.getAtIndex(ValueLayout.JAVA_FLOAT, i))) {
                return false;
            }
        }
        return true;
    }
}
