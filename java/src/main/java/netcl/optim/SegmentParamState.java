package netcl.optim;

import java.lang.foreign.MemorySegment;

/**
 * The RMSProp state of one parameter held in memory segments instead of {@code float[]}: the
 * step count, {@code square_avg}, {@code momentum_buffer} (only when momentum &gt; 0) and
 * {@code grad_avg} (only when centered), each {@code numel} float32 values. {@code null} means
 * absent. Segments may be off-heap, mapped from a file, or read-only; nothing caps their size.
 */
public record SegmentParamState(long step, MemorySegment squareAvg, MemorySegment momentumBuffer,
                                MemorySegment gradAvg) {
}
