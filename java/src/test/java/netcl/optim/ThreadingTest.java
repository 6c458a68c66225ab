package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two optimizers on two threads; one optimizer stepped from two threads at once is serialized;
 * close() from another thread while steps run waits for the step, then closes. Each at a size
 * the host path runs on the calling thread alone (50,000 floats) and at one it shares with the
 * native worker pool (300,000, above 2^17).
 */
class ThreadingTest {
    private static final int STEPS = 40;

    private static float[] sequential(Arena arena, int steps, int n) {
        MemorySegment data = TestTensors.random(arena, 3, n);
        try (RMSProp opt = RMSProp.builder().momentum(0.9).build(
                List.of(Parameter.wrap(data, TestTensors.random(arena, 4, n))))) {
            for (int i = 0; i < steps; i++) {
                opt.step();
            }
        }
        return TestTensors.toArray(data);
    }

    @ParameterizedTest
    @ValueSource(ints = {50_000, 300_000})
    void twoOptimizersOnTwoThreads(int n) throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            float[] expected = sequential(arena, STEPS, n);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<float[]>> results = List.of(pool.submit(() -> {
                start.await();
                return sequential(arena, STEPS, n);
            }), pool.submit(() -> {
                start.await();
                return sequential(arena, STEPS, n);
            }));
            start.countDown();
            for (Future<float[]> f : results) {
                assertArrayEquals(expected, f.get());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {50_000, 300_000})
    void oneOptimizerFromTwoThreadsIsSerialized(int n) throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            float[] expected = sequential(arena, 2 * STEPS, n);
            MemorySegment data = TestTensors.random(arena, 3, n);
            try (RMSProp opt = RMSProp.builder().momentum(0.9).build(
                    List.of(Parameter.wrap(data, TestTensors.random(arena, 4, n))))) {
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

    @ParameterizedTest
    @ValueSource(ints = {50_000, 300_000})
    void closeFromAnotherThreadWaitsForTheStepThenCloses(int n) throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            MemorySegment data = TestTensors.random(arena, 3, n);
            RMSProp opt = RMSProp.builder().build(List.of(Parameter.wrap(data, TestTensors.random(arena, 4, n))));
            CountDownLatch stepping = new CountDownLatch(1);
            Future<Integer> steps = pool.submit(() -> {
                int done = 0;
                try {
                    while (true) {
                        opt.step();
                        done++;
                        stepping.countDown();
                    }
                } catch (IllegalStateException closed) {
                    assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
                    return done;
                }
            });
            stepping.await();
            opt.close();  // waits for the step in progress, never interrupts it half-way
            int done = steps.get();
            assertTrue(done >= 1);
            try (RMSProp replay = RMSProp.builder().build(List.of(Parameter.wrap(TestTensors.random(arena, 3, n),
                    TestTensors.random(arena, 4, n))))) {
                MemorySegment replayed = replay.paramGroups().get(0).params().get(0).data();
                for (int i = 0; i < done; i++) {
                    replay.step();
                }
                assertArrayEquals(TestTensors.toArray(replayed), TestTensors.toArray(data), "whole steps only");
            }
        }
    }
}
