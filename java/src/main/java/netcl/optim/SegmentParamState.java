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
}
