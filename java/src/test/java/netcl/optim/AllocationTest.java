package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * In steady state step(), and the mixed-precision step around it (GradScaler.unscale,
 * clipGradNorm, GradScaler.step, update), allocate nothing on the Java heap (per-thread
 * allocation counter).
 */
class AllocationTest {
    private static final int STEPS = 1000;

    /** Bytes the calling thread allocates per {@code step} over {@value #STEPS} runs, after {@code warmUp} runs. */
    private static double bytesPerStep(Runnable step, int warmUp) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().threadId();
        for (int i = 0; i < warmUp; i++) {  // let the JIT compile the calls
            step.run();
        }
        long before = threads.getThreadAllocatedBytes(thread);
        for (int i = 0; i < STEPS; i++) {
            step.run();
        }
        return (double) (threads.getThreadAllocatedBytes(thread) - before) / STEPS;
    }

    private static Parameter parameter(Arena arena, long seed, int n) {
        return Parameter.wrap(TestTensors.random(arena, seed, n), TestTensors.random(arena, seed + 1, n));
    }

    @Test
    void steadyStateStepAllocatesNothing() {
        try (Arena arena = Arena.ofConfined();
             RMSProp opt = RMSProp.builder().lr(1e-4).momentum(0.5).build(List.of(parameter(arena, 1, 1024)))) {
            opt.addParamGroup(ParamGroup.of(List.of(parameter(arena, 3, 77))).centered(true));
            int[] i = {0};
            double perStep = bytesPerStep(() -> {
                opt.paramGroups().get(0).lr(1e-4 * (i[0]++ % 3 + 1));  // a schedule changes lr between steps
                opt.step();
            }, 20_000);
            assertTrue(perStep < 8, perStep + " bytes per step");
        }
    }

    @Test
    void steadyStateMixedPrecisionStepAllocatesNothing() {
        GradScaler scaler = GradScaler.builder().build();
        try (Arena arena = Arena.ofConfined();
             RMSProp opt = RMSProp.builder().lr(1e-4).build(List.of(parameter(arena, 1, 1024), parameter(arena, 3, 77)))) {
            double perStep = bytesPerStep(() -> {
                scaler.unscale(opt);
                opt.clipGradNorm(1e-3);
                scaler.step(opt);
                scaler.update();
            }, 20_000);
            assertTrue(perStep < 8, perStep + " bytes per step");
        }
    }
}
