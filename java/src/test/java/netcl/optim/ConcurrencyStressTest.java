package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

/**
 * One optimizer used from seven threads at once: two step, one changes the groups (setters, new
 * groups), one takes and loads state dicts, one zeroes gradients and reads the groups, two close
 * it midway. Then no
 * call has failed except with "the optimizer is closed", nothing hung, and the result equals a
 * sequential order of the same calls.
 *
 * <p>How that order is recovered: every step is a {@code step(closure)}, and its closure runs
 * under the optimizer's lock, writes that step's gradients (so a zeroGrad between steps changes
 * nothing) and records the state the step starts from. Replaying the recorded steps on a second
 * optimizer, on one thread, must give the same data bit for bit; where a recorded state differs
 * from the replay's, a state dict was loaded in between, and it must be one the loader loaded,
 * later than the last one seen. Every state dict the other thread took must be a state of that
 * sequence (or a loaded one). Group changes set the values the groups already have.
 *
 * <p>Short in {@code scripts/test}; for a long run set {@code -Dnetcl.stress.steps=N} (Maven
 * passes it to the tests) or the environment variable {@code NETCL_STRESS_STEPS}.
 */
class ConcurrencyStressTest {
    private static final int STEPS = stressSteps();
    private static final int P = 1024;
    private static final int Q = 256;
    /** Loaded state dict j has step count LOADED_STEP * j: no run of steps reaches it. */
    private static final long LOADED_STEP = 1_000_000_000L;
    private static final int MAX_EXTRA_GROUPS = 8;
    /** Only a deadlock reaches it. */
    private static final long HANG_MINUTES = 10;
    private static final String CLOSED = "the optimizer is closed";

    private static int stressSteps() {
        String environment = System.getenv("NETCL_STRESS_STEPS");
        return Integer.getInteger("netcl.stress.steps", environment == null ? 200 : Integer.parseInt(environment));
    }

    /** Two parameters in two groups (momentum; centered) and their gradient buffers. */
    private static final class Model {
        final Parameter p;
        final Parameter q;
        final MemorySegment gradP;
        final MemorySegment gradQ;
        final RMSProp opt;

        Model(Arena arena) {
            p = Parameter.wrap(TestTensors.random(arena, 1, P), null);
            q = Parameter.wrap(TestTensors.random(arena, 2, Q), null);
            gradP = Tensors.allocate(arena, P);
            gradQ = Tensors.allocate(arena, Q);
            opt = RMSProp.builder().lr(1e-2).momentum(0.9).build(List.of(p));
            opt.addParamGroup(ParamGroup.of(List.of(q)).lr(3e-3).momentum(0).centered(true));
        }

        /** Step k's gradients, set again (zeroGrad(true) may have cleared them) and written. */
        void writeGradients(int k) {
            TestTensors.set(gradP, TestTensors.random(7919L * k + 1, P));
            TestTensors.set(gradQ, TestTensors.random(7919L * k + 2, Q));
            p.grad(gradP);
            q.grad(gradQ);
        }
    }

    /** A state dict in brief: step count of parameter 0 (-1: no state) and a hash of everything. */
    private record Fingerprint(long step, int hash) {
        static Fingerprint of(StateDict sd) {
            int hash = sd.state().keySet().hashCode();
            for (ParamState s : new TreeMap<>(sd.state()).values()) {  // in parameter order
                hash = 31 * hash + Long.hashCode(s.step());
                hash = 31 * hash + Arrays.hashCode(s.squareAvg());
                hash = 31 * hash + Arrays.hashCode(s.momentumBuffer());
                hash = 31 * hash + Arrays.hashCode(s.gradAvg());
            }
            ParamState first = sd.state().get(0);
            return new Fingerprint(first == null ? -1 : first.step(), hash);
        }
    }

    /** The j-th state dict the loader loads. */
    private static StateDict loaded(int j) {
        float[] pv = new float[P];
        float[] pm = new float[P];
        float[] qv = new float[Q];
        float[] qa = new float[Q];
        Arrays.fill(pv, 1e-3f * j);
        Arrays.fill(pm, -1e-2f * j);
        Arrays.fill(qv, 2e-3f * j);
        Arrays.fill(qa, 1e-4f * j);
        return StateDict.of(Map.of(0, new ParamState(LOADED_STEP * j, pv, pm, null),
                1, new ParamState(LOADED_STEP * j, qv, null, qa)));
    }

    /** A thread's loop: runs until the optimizer is closed; any other exception fails the test. */
    private interface Loop {
        void once(int iteration);
    }

    private static Callable<Integer> untilClosed(CountDownLatch start, Loop loop) {
        return () -> {
            start.await();
            int iteration = 0;
            try {
                while (true) {
                    loop.once(iteration++);
                }
            } catch (IllegalStateException e) {
                if (!CLOSED.equals(e.getMessage())) {
                    throw e;
                }
            }
            return iteration;
        };
    }

    @Test
    void manyThreadsOneOptimizerEqualSomeSequentialOrder() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(7)) {
            Model live = new Model(arena);
            List<Fingerprint> stepStarts = new ArrayList<>();  // appended under the optimizer's lock
            AtomicInteger stepped = new AtomicInteger();
            Map<Fingerprint, Boolean> taken = new ConcurrentHashMap<>();
            AtomicInteger loads = new AtomicInteger();
            List<Parameter> extraParams = new ArrayList<>();  // the group thread's; read after it ended
            List<float[]> extraData = new ArrayList<>();
            CountDownLatch start = new CountDownLatch(1);
            List<Callable<Integer>> tasks = new ArrayList<>();
            for (int stepper = 0; stepper < 2; stepper++) {
                tasks.add(untilClosed(start, i -> live.opt.step(() -> {
                    int k = stepStarts.size();
                    live.writeGradients(k);
                    stepStarts.add(Fingerprint.of(live.opt.stateDict()));
                    stepped.incrementAndGet();
                    return k;
                })));
            }
            tasks.add(untilClosed(start, i -> {
                for (ParamGroup g : live.opt.paramGroups()) {
                    synchronized (g) {
                        g.lr(g.lr()).momentum(g.momentum()).centered(g.centered()).maximize(g.maximize());
                    }
                }
                if (i % 16 == 0 && extraParams.size() < MAX_EXTRA_GROUPS) {
                    Parameter extra = Parameter.wrap(TestTensors.random(arena, 100 + i, 64), null);
                    live.opt.addParamGroup(ParamGroup.of(List.of(extra)));
                    extraParams.add(extra);
                    extraData.add(TestTensors.toArray(extra.data()));
                }
            }));
            tasks.add(untilClosed(start, i -> {
                taken.putIfAbsent(Fingerprint.of(live.opt.stateDict()), Boolean.TRUE);
                if (i % 8 == 7) {
                    live.opt.loadStateDict(loaded(loads.incrementAndGet()));
                }
            }));
            tasks.add(untilClosed(start, i -> {
                live.opt.zeroGrad(i % 2 == 0);
                for (ParamGroup g : live.opt.paramGroups()) {  // while the group thread adds groups
                    assertTrue(g.lr() > 0);
                }
            }));
            for (int closer = 0; closer < 2; closer++) {
                tasks.add(() -> {
                    start.await();
                    while (stepped.get() < STEPS) {
                        Thread.sleep(1);
                    }
                    live.opt.close();
                    return 0;
                });
            }
            List<Future<Integer>> futures = new ArrayList<>();
            for (Callable<Integer> task : tasks) {
                futures.add(pool.submit(task));
            }
            start.countDown();
            for (Future<Integer> f : futures) {
                try {
                    f.get(HANG_MINUTES, TimeUnit.MINUTES);
                } catch (TimeoutException e) {
                    fail("a thread hung (deadlock?):\n" + threadDump());
                } catch (ExecutionException e) {
                    throw new AssertionError("a thread failed", e.getCause());
                }
            }
            System.out.printf("%d steps, %d state dicts loaded, %d groups added, %d distinct states taken%n",
                    stepStarts.size(), loads.get(), extraParams.size(), taken.size());
            assertTrue(stepStarts.size() >= STEPS, "steps ran until the close");
            replay(arena, live, stepStarts, taken.keySet());
            for (int i = 0; i < extraParams.size(); i++) {
                assertArrayEquals(extraData.get(i), TestTensors.toArray(extraParams.get(i).data()),
                        "a parameter without gradient never moves");
            }
        }
    }

    /**
     * Replays the recorded steps on one thread and compares: every step started from the state
     * the replay reached or from a later loaded state; the data ends bit for bit the same; every
     * state another thread took is one of the sequence or a loaded one.
     */
    private static void replay(Arena arena, Model live, List<Fingerprint> stepStarts, Set<Fingerprint> taken) {
        Model replay = new Model(arena);
        try (RMSProp opt = replay.opt) {
            Map<Fingerprint, Boolean> sequence = new HashMap<>();
            sequence.put(Fingerprint.of(opt.stateDict()), Boolean.TRUE);
            long lastLoad = 0;
            for (int k = 0; k < stepStarts.size(); k++) {
                Fingerprint recorded = stepStarts.get(k);
                if (!recorded.equals(Fingerprint.of(opt.stateDict()))) {
                    long j = recorded.step() / LOADED_STEP;
                    assertTrue(j > lastLoad && recorded.step() == j * LOADED_STEP,
                            "step " + k + " started from a state that is neither the previous step's nor a later load");
                    opt.loadStateDict(loaded((int) j));
                    assertEquals(recorded, Fingerprint.of(opt.stateDict()), "step " + k + ": loaded state " + j);
                    lastLoad = j;
                }
                replay.writeGradients(k);
                opt.step();
                sequence.put(Fingerprint.of(opt.stateDict()), Boolean.TRUE);
            }
            assertArrayEquals(TestTensors.toArray(replay.p.data()), TestTensors.toArray(live.p.data()));
            assertArrayEquals(TestTensors.toArray(replay.q.data()), TestTensors.toArray(live.q.data()));
            for (Fingerprint f : taken) {
                long j = f.step() / LOADED_STEP;
                boolean wasLoaded = f.step() > 0 && f.step() == j * LOADED_STEP
                        && f.equals(Fingerprint.of(loaded((int) j)));
                assertTrue(sequence.containsKey(f) || wasLoaded,
                        "a state dict was taken that no sequential order has: " + f);
            }
        }
    }

    private static String threadDump() {
        StringBuilder out = new StringBuilder();
        for (ThreadInfo info : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
            out.append(info);
        }
        return out.toString();
    }
}
