package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

/** Two optimizers on two threads; one optimizer stepped from two threads at once is serialized. */
class ThreadingTest {
    private static final int N = 50_000;
    private static final int STEPS = 40;

    private static float[] sequential(Arena arena, int steps) {
        MemorySegment data = TestTensors.random(arena, 3, N);
        try (RMSProp opt = RMSProp.builder().momentum(0.9).build(
                List.of(Parameter.wrap(data, TestTensors.random(arena, 4, N))))) {
            for (int i = 0; i < steps; i++) {
                opt.step();
            }
        }
        return TestTensors.toArray(data);
    }

    @Test
    void twoOptimizersOnTwoThreads() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            float[] expected = sequential(arena, STEPS);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<float[]>> results = List.of(pool.submit(() -> {
                start.await();
                return sequential(arena, STEPS);
            }), pool.submit(() -> {
                start.await();
                return sequential(arena, STEPS);
            }));
            start.countDown();
            for (Future<float[]> f : results) {
                assertArrayEquals(expected, f.get());
            }
        }
    }

    @Test
    void oneOptimizerFromTwoThreadsIsSerialized() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            float[] expected = sequential(arena, 2 * STEPS);
            MemorySegment data = TestTensors.random(arena, 3, N);
            try (RMSProp opt = RMSProp.builder().momentum(0.9).build(
                    List.of(Parameter.wrap(data, TestTensors.random(arena, 4, N))))) {
                CountDownLatch start = new CountDownLatch(1);
                Runnable stepper = () -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    for (int i = 0; i < STEPS; i++) {
                        opt.step();
                    }
                };
                Future<?> a = pool.submit(stepper);
                Future<?> b = pool.submit(stepper);
                start.countDown();
                a.get();
                b.get();
                assertEquals(2L * STEPS, opt.stateDict().state().get(0).step());
                assertArrayEquals(expected, TestTensors.toArray(data));
            }
        }
    }
}
