package netcl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import netcl.optim.Parameter;
import netcl.optim.Tensors;

/**
 * A parameter list's tensors (data, gradient, or optimizer state) as a framework would hold
 * them: slices of one zero-copy block, one after the other (the layout netcl serves best), or
 * each allocated on its own ({@link Layout}). The values follow netcl-bench's, so that both
 * harnesses step the same numbers; a harness keeps one block per gradient set of
 * {@link Gradients}.
 */
final class Block {
    final MemorySegment[] slices;

    private Block(MemorySegment[] slices) {
        this.slices = slices;
    }

    /** {@link #allocate(Arena, long[], float, Layout)} as slices of one block. */
    static Block allocate(Arena arena, long[] numels, float value) {
        return allocate(arena, numels, value, Layout.CONTIGUOUS);
    }

    /**
     * {@code numels} tensors laid out as {@code layout}, where float i of the list holds
     * {@code value * (1 + i % 7)}.
     */
    static Block allocate(Arena arena, long[] numels, float value, Layout layout) {
        MemorySegment whole = layout == Layout.CONTIGUOUS ? Tensors.allocate(arena, Sizes.total(numels)) : null;
        MemorySegment[] slices = new MemorySegment[numels.length];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            slices[t] = whole != null ? whole.asSlice(at * Float.BYTES, numels[t] * Float.BYTES)
                    : Tensors.allocate(arena, numels[t]);
            for (long i = 0; i < numels[t]; i++) {
                slices[t].setAtIndex(ValueLayout.JAVA_FLOAT, i, value * (1 + (at + i) % 7));
            }
            at += numels[t];
        }
        return new Block(slices);
    }

    /** Makes tensor t of this block the gradient of {@code params.get(t)}, for every t. */
    void setAsGrads(List<Parameter> params) {
        for (int t = 0; t < slices.length; t++) {
            params.get(t).grad(slices[t]);
        }
    }

    /** Whether every float of the block is finite (false once an optimizer stepping it diverged). */
    boolean allFinite() {
        for (MemorySegment slice : slices) {
            for (long i = 0; i < slice.byteSize() / Float.BYTES; i++) {
                if (!Float.isFinite(slice.getAtIndex(ValueLayout.JAVA_FLOAT, i))) {
                    return false;
                }
            }
        }
        return true;
    }
}
