package netcl.checkpoint;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A tensor of a checkpoint file: its element type, its shape (row-major; {@code []} is a scalar)
 * and its bytes. Read from a file, {@code data} is a read-only slice of the file's mapping;
 * written to a file, it is the caller's memory, copied as it is.
 */
public record Tensor(ElementType type, long[] shape, MemorySegment data) {

    /** Checks that the shape is valid and that {@code data} holds exactly its bytes. */
    public Tensor {
        if (type == null || shape == null || data == null) {
            throw new IllegalArgumentException("tensor type, shape and data must not be null");
        }
        shape = shape.clone();
        long bytes = byteSize(type, shape);
        if (bytes < 0) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + type
                    + " is negative, overflows or does not fill whole bytes");
        }
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " of " + type + " needs "
                    + bytes + " bytes, the segment has " + data.byteSize());
        }
    }

    /** A one-dimensional float32 tensor over all of {@code data} (a multiple of 4 bytes). */
    public static Tensor f32(MemorySegment data) {
        if (data == null) {
            throw new IllegalArgumentException("tensor data must not be null");
        }
        if (data.byteSize() % Float.BYTES != 0) {
            throw new IllegalArgumentException("a float32 tensor needs a multiple of 4 bytes, the segment has "
                    + data.byteSize());
        }
        return new Tensor(ElementType.F32, new long[] {data.byteSize() / Float.BYTES}, data);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements: the product of the shape (1 for a scalar). */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public String toString() {
        return "Tensor[" + type + " " + Arrays.toString(shape) + ", " + data.byteSize() + " bytes]";
    }

    /** Bytes of a tensor of this type and shape, or -1 when a dimension is negative, it overflows or ends mid-byte. */
    static long byteSize(ElementType type, long[] shape) {
        try {
            long bits = type.bits();
            for (long d : shape) {
                if (d < 0) {
                    return -1;
                }
                bits = Math.multiplyExact(bits, d);
            }
            return bits % 8 == 0 ? bits / 8 : -1;
        } catch (ArithmeticException e) {
            return -1;
        }
    }
}
