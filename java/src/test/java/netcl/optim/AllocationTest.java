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

    @Test
    void steadyStateStepAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().threadId();
        try (Arena arena = Arena.ofConfined()) {
            Parameter a = Parameter.wrap(TestTensors.random(arena, 1, 1024), TestTensors.random(arena, 2, 1024));
            Parameter b = Parameter.wrap(TestTensors.random(arena, 3, 77), TestTensors.random(arena, 4, 77));
            try (RMSProp opt = RMSProp.builder().lr(1e-4).momentum(0.5).build(List.of(a))) {
                opt.addParamGroup(ParamGroup.of(List.of(b)).centered(true));
                for (int i = 0; i < 20_000; i++) {  // warm-up: let the JIT compile step()
                    opt.step();
                }
                int steps = 1000;
                long before = threads.getThreadAllocatedBytes(thread);
                for (int i = 0; i < steps; i++) {
                    opt.paramGroups().get(0).lr(1e-4 * (i % 3 + 1));  // a schedule changes lr between steps
                    opt.step();
                }
                long allocated = threads.getThreadAllocatedBytes(thread) - before;
                double perStep = (double) allocated / steps;
                assertTrue(perStep < 8, allocated + " bytes over " + steps + " steps (" + perStep + " per step)");
            }
        }
    }

    @Test
    void steadyStateMixedPrecisionStepAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().threadId();
        try (Arena arena = Arena.ofConfined()) {
            Parameter a = Parameter.wrap(TestTensors.random(arena, 1, 1024), TestTensors.random(arena, 2, 1024));
            Parameter b = Parameter.wrap(TestTensors.random(arena, 3, 77), TestTensors.random(arena, 4, 77));
            GradScaler scaler = GradScaler.builder().build();
            try (RMSProp opt = RMSProp.builder().lr(1e-4).build(List.of(a, b))) {
                Runnable step = () -> {
                    scaler.unscale(opt);
                    opt.clipGradNorm(1e-3);
                    scaler.step(opt);
                    scaler.update();
                };
                for (int i = 0; i < 200_000; i++) {  // warm-up: more calls than step() alone for C2 to compile
                    step.run();
                }
                int steps = 1000;
                long before = threads.getThreadAllocatedBytes(thread);
                for (int i = 0; i < steps; i++) {
                    step.run();
                }
                long allocated = threads.getThreadAllocatedBytes(thread) - before;
                double perStep = (double) allocated / steps;
                assertTrue(perStep < 8, allocated + " bytes over " + steps + " steps (" + perStep + " per step)");
            }
        }
    }
}
