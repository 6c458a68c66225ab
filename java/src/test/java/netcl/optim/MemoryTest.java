package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * Where the bytes go: zero-copy on a device that shares host memory (the library's staged-bytes
 * counter stays at 0), staging for memory that is not aligned for it, one launch for slices of one
 * buffer, and 1,000 parameters in one group.
 */
class MemoryTest {

    private static float[] run(MemorySegment data, MemorySegment grad, long[] stagedBytes) {
        Parameter p = Parameter.wrap(data, grad);
        // Staging and zero-copy are the kernel path's; the host path never copies.
        try (RMSProp opt = RMSProp.builder().momentum(0.9).path(StepPath.KERNEL).build(List.of(p))) {
            long before = opt.stagedBytes();
            for (int s = 0; s < 3; s++) {
                TestTensors.set(grad, TestTensors.random(s, (int) p.numel()));
                opt.step();
            }
            stagedBytes[0] = opt.stagedBytes() - before;
            assumeTrue(opt.device().hostUnifiedMemory() || stagedBytes[0] > 0);
        }
        return TestTensors.toArray(data);
    }

    @Test
    void alignedMemoryIsUpdatedInPlaceWithoutCopies() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 10_000;
            long[] staged = new long[1];
            float[] aligned = run(TestTensors.random(arena, 9, n), Tensors.allocate(arena, n), staged);
            try (RMSProp probe = RMSProp.builder().build(List.of(Parameter.wrap(Tensors.allocate(arena, 1), null)))) {
                if (probe.device().cpu() && probe.device().hostUnifiedMemory()) {
                    assertEquals(0, staged[0], "zero-copy path staged bytes");
                }
            }
            // The same floats 4 bytes past a 128-byte boundary: correct, but staged.
            MemorySegment data = Tensors.allocate(arena, n + 1).asSlice(4, n * 4L);
            MemorySegment grad = Tensors.allocate(arena, n + 1).asSlice(4, n * 4L);
            TestTensors.set(data, TestTensors.random(9, n));
            float[] misaligned = run(data, grad, staged);
            assertTrue(staged[0] > 0, "misaligned memory cannot be zero-copy");
            assertArrayEquals(aligned, misaligned);
        }
    }

    /**
     * 1,000 parameters as slices of one buffer: one launch, and the same bits as
     * the same parameters allocated one by one.
     */
    @Test
    void thousandParametersInOneGroup() {
        SplittableRandom random = new SplittableRandom(5);
        int count = 1000;
        int[] sizes = new int[count];
        long total = 0;
        for (int i = 0; i < count; i++) {
            sizes[i] = 1 + random.nextInt(3000);
            total += sizes[i];
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment block = Tensors.allocate(arena, total);
            MemorySegment gradBlock = Tensors.allocate(arena, total);
            List<Parameter> sliced = new ArrayList<>();
            List<Parameter> apart = new ArrayList<>();
            long offset = 0;
            for (int i = 0; i < count; i++) {
                float[] init = TestTensors.random(i, sizes[i]);
                float[] g = TestTensors.random(i + 7777, sizes[i]);
                MemorySegment d = block.asSlice(offset * 4, sizes[i] * 4L);
                MemorySegment gs = gradBlock.asSlice(offset * 4, sizes[i] * 4L);
                TestTensors.set(d, init);
                TestTensors.set(gs, g);
                sliced.add(Parameter.wrap(d, gs));
                apart.add(Parameter.wrap(TestTensors.of(arena, init), TestTensors.of(arena, g)));
                offset += sizes[i];
            }
            // Launches are the kernel path's (the host path needs none).
            try (RMSProp one = RMSProp.builder().centered(true).path(StepPath.KERNEL).build(sliced);
                 RMSProp many = RMSProp.builder().centered(true).path(StepPath.KERNEL).build(apart)) {
                for (int s = 0; s < 3; s++) {
                    one.step();
                    many.step();
                }
                assertEquals(1, one.lastLaunchCount(), "launches for one buffer");
                for (int i = 0; i < count; i++) {
                    assertArrayEquals(TestTensors.toArray(apart.get(i).data()), TestTensors.toArray(sliced.get(i).data()));
                }
            }
        }
    }
}
