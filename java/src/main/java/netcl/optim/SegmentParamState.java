package netcl.optim;

import java.lang.foreign.MemorySegment;

/**
 * The RMSProp state of one parameter held in memory segments instead of {@code float[]}: the
 * step count, {@code square_avg}, {@code momentum_buffer} (only when momentum &gt; 0),
 * {@code grad_avg} (only when centered) and {@code master} (the float32 master copy of a
 * {@link DType#BF16} or {@link DType#FP16} parameter), each {@code numel} float32 values.
 * {@code null} means absent. Segments may be off-heap, mapped from a file, or read-only; nothing
 * caps their size.
 */
public record SegmentParamState(long step, MemorySegment squareAvg, MemorySegment momentumBuffer,
                                MemorySegment gradAvg, MemorySegment master) {

    /** The state of a float32 parameter (no master copy). */
    public SegmentParamState(long step, MemorySegment squareAvg, MemorySegment momentumBuffer, MemorySegment gradAvg) {
        this(step, squareAvg, momentumBuffer, gradAvg, null);
    }

    /**
     * Checks that this state can be loaded as the state of parameter {@code index}, which has
     * {@code numel} floats: a {@code squareAvg}, a step count &ge; 0, and every buffer native,
     * open, 4-byte aligned and exactly {@code numel} floats; throws
     * {@link IllegalArgumentException} naming the parameter and the problem otherwise. Whether a
     * {@code master} suits the parameter's type is the optimizer's to check.
     */
    public void checkFits(int index, long numel) {
        if (squareAvg == null) {
            throw new IllegalArgumentException("parameter " + index + ": state without squareAvg");
        }
        if (step < 0) {
            throw new IllegalArgumentException("parameter " + index + ": negative step " + step);
        }
        checkStateSegment(index, "squareAvg", squareAvg, numel);
        checkStateSegment(index, "momentumBuffer", momentumBuffer, numel);
        checkStateSegment(index, "gradAvg", gradAvg, numel);
        checkStateSegment(index, "master", master, numel);
    }

    private static void checkStateSegment(int index, String name, MemorySegment s, long numel) {
        if (s == null) {
            return;
        }
        String what = "parameter " + index + ": " + name;
        if (!s.scope().isAlive()) {
            throw new IllegalArgumentException(what + ": the segment's arena is closed");
        }
        if (!s.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment; it must be native memory");
        }
        if (s.byteSize() != numel * Float.BYTES) {
            throw new IllegalArgumentException(what + " has " + s.byteSize() + " bytes, the parameter has "
                    + numel + " floats (" + numel * Float.BYTES + " bytes)");
        }
        if (s.address() % Float.BYTES != 0) {
            throw new IllegalArgumentException(what + " at address 0x" + Long.toHexString(s.address())
                    + " is not aligned to 4 bytes");
        }
    }
}
