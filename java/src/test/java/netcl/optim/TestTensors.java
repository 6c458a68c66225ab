package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Small helpers for tests: segments from arrays and back, seeded random contents. */
final class TestTensors {
    private TestTensors() {
    }

    static MemorySegment of(Arena arena, float[] values) {
        return Tensors.of(arena, values);
    }

    static float[] toArray(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }

    static void set(MemorySegment segment, float[] values) {
        MemorySegment.copy(values, 0, segment, ValueLayout.JAVA_FLOAT, 0, values.length);
    }

    static float[] random(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return out;
    }

    static MemorySegment random(Arena arena, long seed, int n) {
        return of(arena, random(seed, n));
    }
}
