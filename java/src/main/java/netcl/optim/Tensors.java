package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Allocation helpers for tensors that netcl updates without copies.
 *
 * <p>On a CPU device netcl wraps the caller's memory in place when the tensor's first float is
 * aligned to {@link #ZERO_COPY_ALIGNMENT} bytes (the device's base-address alignment, 128 bytes
 * on PoCL); several parameters that are
 * slices of one such allocation, laid out one after the other, are updated by one kernel launch.
 * Memory aligned only to 4 bytes still works, through a staging copy each step.
 */
public final class Tensors {
    /** Bytes of alignment that keep a tensor zero-copy on the devices netcl has met. */
    public static final long ZERO_COPY_ALIGNMENT = 128;

    private Tensors() {
    }

    /**
     * A zeroed, {@value #ZERO_COPY_ALIGNMENT}-byte aligned segment of {@code numel} floats.
     *
     * @throws IllegalArgumentException when {@code numel} is not positive or its byte size does not
     *                                  fit in a {@code long}
     */
    public static MemorySegment allocate(Arena arena, long numel) {
        return allocate(arena, numel, DType.FP32);
    }

    /**
     * A zeroed, {@value #ZERO_COPY_ALIGNMENT}-byte aligned segment of {@code numel} elements of
     * {@code dtype}.
     *
     * @throws IllegalArgumentException when {@code numel} is not positive or its byte size does not
     *                                  fit in a {@code long}
     */
    public static MemorySegment allocate(Arena arena, long numel, DType dtype) {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype is null");
        }
        if (numel <= 0) {
            throw new IllegalArgumentException("numel must be positive, got " + numel);
        }
        // numel * size would wrap around to a small size (2^62 floats gave a segment of 0 bytes).
        if (numel > Long.MAX_VALUE / dtype.byteSize()) {
            throw new IllegalArgumentException("numel " + numel + " is too large: " + numel + " "
                    + dtype.elements() + " do not fit in a memory segment");
        }
        return arena.allocate(numel * dtype.byteSize(), ZERO_COPY_ALIGNMENT);
    }

    /** A zero-copy segment holding a copy of {@code values}. */
    public static MemorySegment of(Arena arena, float... values) {
        MemorySegment segment = allocate(arena, values.length);
        MemorySegment.copy(values, 0, segment, ValueLayout.JAVA_FLOAT, 0, values.length);
        return segment;
    }
}
