package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * An optimizer that is never closed is freed once it is unreachable: each one used to keep its
 * native memory (1.7 MiB with a context of its own; its state buffers) until the process ended.
 */
class UnclosedOptimizerTest {
    /** Optimizers created, stepped once and dropped unclosed: about 1 ms each. */
    static final int OPTIMIZERS = 10_000;
    /** Floats per parameter: its square_avg and momentum_buffer are 128 KiB of native state. */
    static final int NUMEL = 1 << 14;
    /** Created before the resident set is first measured: the JIT, the kernel cache, the heap. */
    static final int WARM_UP = 20;
    /** 10,000 held 1.3 GiB of state before; the resident set drifts by about 80 MiB regardless. */
    static final long LIMIT_BYTES = 256L << 20;
    /** Only a hang reaches it: the Cleaner frees within milliseconds of a collection. */
    static final long CLEANER_PATIENCE_NANOS = 60_000_000_000L;

    /**
     * close() frees at once and only once; an unclosed optimizer survives collections while it
     * is reachable, and its Cleaner frees it after it became unreachable.
     */
    @Test
    void theCleanerFreesOnlyUnreachableOptimizersAndOnlyOnce() throws InterruptedException {
        try (Arena arena = Arena.ofShared()) {
            Parameter p = Parameter.wrap(TestTensors.random(arena, 1, 64), TestTensors.random(arena, 2, 64));
            int before = NativeState.unfreed();
            RMSProp closed = RMSProp.builder().build(List.of(p));
            assertEquals(before + 1, NativeState.unfreed());
            closed.close();
            closed.close();
            assertEquals(before, NativeState.unfreed(), "close() freed once");

            RMSProp kept = RMSProp.builder().build(List.of(p));
            dropUnclosed(p, 3);
            long deadline = System.nanoTime() + CLEANER_PATIENCE_NANOS;
            while (NativeState.unfreed() > before + 1) {
                assertTrue(System.nanoTime() < deadline, "the Cleaner did not free dropped optimizers");
                System.gc();
                Thread.sleep(10);
            }
            kept.step();  // reachable: not freed by the collections above
            assertEquals(1, kept.stateDict().state().get(0).step());
            kept.close();
            assertEquals(before, NativeState.unfreed());
        }
    }

    private static void dropUnclosed(Parameter p, int count) {
        for (int i = 0; i < count; i++) {
            RMSProp.builder().build(List.of(p)).step();
        }
    }

    @Test
    void unclosedOptimizersDoNotAccumulateNativeMemory() {
        ChildJvm.Result child = ChildJvm.run(Child.class, List.of());
        System.out.print(child.output());
        long growth = Long.parseLong(child.verdict("growth"));
        assertTrue(growth < LIMIT_BYTES, OPTIMIZERS + " unclosed optimizers grew the resident set by "
                + (growth >> 20) + " MiB");
    }

    /** Creates optimizers, steps each once, drops them unclosed; prints the resident set's growth. */
    public static final class Child {
        public static void main(String[] args) {
            try (Arena arena = Arena.ofShared()) {
                Parameter p = Parameter.wrap(TestTensors.random(arena, 1, NUMEL), TestTensors.random(arena, 2, NUMEL));
                long before = 0;
                long start = System.nanoTime();
                for (int i = 0; i < WARM_UP + OPTIMIZERS; i++) {
                    if (i == WARM_UP) {
                        before = ChildJvm.residentBytes();
                        start = System.nanoTime();
                    }
                    RMSProp.builder().lr(1e-6).momentum(0.5).build(List.of(p)).step();
                    if ((i + 1) % 1000 == 0) {
                        System.out.printf("%d optimizers: resident set %d MiB%n", i + 1,
                                ChildJvm.residentBytes() >> 20);
                    }
                }
                long growth = ChildJvm.residentBytes() - before;
                System.out.printf("%d unclosed optimizers in %.1f s: resident set grew by %d MiB%n", OPTIMIZERS,
                        (System.nanoTime() - start) / 1e9, growth >> 20);
                System.out.println("growth " + growth);
            }
        }
    }
}
