package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The memory of a step's tensors stays valid for the whole native step, whatever other threads
 * do to their arenas.
 */
class ArenaLifetimeTest {

    /**
     * Closing a parameter's shared arena from another thread while steps run once crashed the JVM
     * (2^24 floats: SIGSEGV in the kernel; 2^12: the kernel wrote into memory the JVM had reused).
     * Now close() throws while a step holds the arena, and the step after a successful close is
     * refused before any native call. Run in a child JVM, since the failure is a crash. With 104
     * other arenas ahead of it, the closed arena is held by the step call itself after a chained
     * netcl_hold (the wide innermost call); alone, by the narrow one.
     */
    @ParameterizedTest
    @CsvSource({"16777216, 0", "4096, 0", "16777216, 104"})
    void closingAnArenaDuringStepsNeverFreesMemoryInUse(int numel, int otherArenas) {
        ChildJvm.Result child = ChildJvm.run(CloseDuringSteps.class, List.of(), Integer.toString(numel),
                Integer.toString(otherArenas));
        System.out.print(child.output());
        assertEquals("ok", child.verdict("verdict"));
    }

    /**
     * A confined arena's memory belongs to its owner thread: step() on another thread is refused
     * before any native call, as a plain FFM read from that thread is, and nothing changes. The
     * owner thread may step the same optimizer.
     */
    @Test
    void segmentsOfAnotherThreadsConfinedArenaAreRefused() throws Exception {
        try (ExecutorService owner = Executors.newSingleThreadExecutor(); Arena shared = Arena.ofShared()) {
            Arena confined = owner.submit(Arena::ofConfined).get();
            MemorySegment ownData = owner.submit(() -> TestTensors.random(confined, 1, 64)).get();
            MemorySegment ownGrad = owner.submit(() -> TestTensors.random(confined, 2, 64)).get();
            MemorySegment sharedData = TestTensors.random(shared, 3, 64);
            MemorySegment sharedGrad = TestTensors.random(shared, 4, 64);
            Parameter sharedParam = Parameter.wrap(sharedData, sharedGrad);
            Parameter foreignData = Parameter.wrap(ownData, null);  // no gradient: still its memory
            Parameter foreignGrad = Parameter.wrap(TestTensors.random(shared, 5, 64), ownGrad);
            assertThrows(WrongThreadException.class, () -> ownData.get(ValueLayout.JAVA_FLOAT, 0), "FFM's own rule");
            float[] ownBefore = owner.submit(() -> TestTensors.toArray(ownData)).get();
            float[] sharedBefore = TestTensors.toArray(sharedData);
            try (RMSProp opt = RMSProp.builder().build(List.of(sharedParam, foreignData))) {
                opt.addParamGroup(ParamGroup.of(List.of(foreignGrad)));
                WrongThreadException e = assertThrows(WrongThreadException.class, opt::step);
                assertTrue(e.getMessage().startsWith("parameter 1: its data segment belongs to a confined arena of "
                        + "another thread, and step() ran on " + Thread.currentThread()), e.getMessage());
                assertArrayEquals(sharedBefore, TestTensors.toArray(sharedData));
                assertArrayEquals(ownBefore, owner.submit(() -> TestTensors.toArray(ownData)).get());
                assertTrue(opt.stateDict().state().isEmpty(), "no state was created");

                try (RMSProp gradOnly = RMSProp.builder().build(List.of(foreignGrad))) {
                    e = assertThrows(WrongThreadException.class, gradOnly::step);
                    assertTrue(e.getMessage().startsWith("parameter 0: its grad segment belongs"), e.getMessage());
                }
                owner.submit((Runnable) opt::step).get();  // the owner may: every segment is accessible there
                assertEquals(Set.of(0, 2), opt.stateDict().state().keySet());
                assertNotEquals(sharedBefore[0], TestTensors.toArray(sharedData)[0]);
            }
            owner.submit(confined::close).get();
        }
    }

    /**
     * Every distinct arena of a step is held for the whole native call, however many there are
     * (holds beyond the first netcl_hold are chained through upcalls): inside the call, closing
     * any of them throws.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 4, 5, 104, 105, ArenaHold.MAX_SCOPES})
    void everyDistinctArenaIsHeldDuringTheCall(int arenaCount) {
        List<Arena> arenas = new ArrayList<>();
        for (int i = 0; i < arenaCount; i++) {
            arenas.add(Arena.ofShared());
        }
        try (Arena own = Arena.ofShared()) {
            int[] calls = {0};
            List<Arena> held = new ArrayList<>();
            IntSupplier call = () -> {
                calls[0]++;
                for (Arena a : held) {
                    assertThrows(IllegalStateException.class, a::close, "an arena closed during the call");
                }
                return 7;
            };
            ArenaHold hold = new ArenaHold(own);
            held.addAll(arenas);
            for (int round = 0; round < 2; round++) {
                hold.forget();  // a hold keeps its segments from one run to the next
                for (Arena a : arenas) {
                    hold.add(a.allocate(8));
                    hold.add(a.allocate(8).asSlice(4));  // the same scope: held once
                }
                assertEquals(7, hold.run(hold.callingBack(call)));
            }
            assertEquals(2, calls[0]);
            held.clear();
            hold.forget();
            assertEquals(7, hold.run(hold.callingBack(call)), "nothing to hold");
            assertEquals(3, calls[0]);
        }
        arenas.forEach(Arena::close);  // held no more
    }

    /**
     * A gradient's arena closed between steps over the same gradient (whose scope the hold kept
     * from the step before) refuses the next step, naming it, before anything changes; a new
     * gradient steps again.
     */
    @Test
    void aGradientsArenaClosedBetweenStepsIsRefused() {
        try (Arena data = Arena.ofShared()) {
            Arena grads = Arena.ofShared();
            Parameter p = Parameter.wrap(TestTensors.random(data, 1, 8), TestTensors.random(grads, 2, 8));
            try (RMSProp opt = RMSProp.builder().build(List.of(p))) {
                opt.step();
                opt.step();
                float[] before = closingGradArenaRefusesStep(opt, p, grads, 2);
                p.grad(TestTensors.random(data, 3, 8));
                opt.step();
                assertNotEquals(before[0], TestTensors.toArray(p.data())[0]);
            }
        }
    }

    /**
     * Gradients swapped for others of the same arena leave the step holding that arena (through
     * whichever of its segments it held): closed between steps, the next step is refused and
     * changes nothing.
     */
    @Test
    void gradientsSwappedWithinAnArenaKeepItHeld() {
        try (Arena data = Arena.ofShared()) {
            Arena grads = Arena.ofShared();
            Parameter p = Parameter.wrap(TestTensors.random(data, 1, 8), TestTensors.random(grads, 2, 8));
            try (RMSProp opt = RMSProp.builder().build(List.of(p))) {
                opt.step();
                p.grad(TestTensors.random(grads, 3, 8));
                opt.step();
                p.grad(TestTensors.random(grads, 4, 8));
                closingGradArenaRefusesStep(opt, p, grads, 2);
            }
        }
    }

    /**
     * A gradient moved to another arena is held from there: the arena it left may close between
     * steps (the step no longer holds it), the one it moved to may not.
     */
    @Test
    void aGradientMovedToAnotherArenaReleasesTheOld() {
        try (Arena data = Arena.ofShared()) {
            Arena first = Arena.ofShared();
            Arena second = Arena.ofShared();
            Parameter p = Parameter.wrap(TestTensors.random(data, 1, 8), TestTensors.random(first, 2, 8));
            try (RMSProp opt = RMSProp.builder().build(List.of(p))) {
                opt.step();
                p.grad(TestTensors.random(second, 3, 8));
                first.close();
                opt.step();
                closingGradArenaRefusesStep(opt, p, second, 2);
            }
        }
    }

    /**
     * Closes {@code gradArena}, the arena of {@code p}'s gradient, after {@code steps} steps: the
     * next step is refused, naming it, and changes nothing. Returns p's data as it was.
     */
    private static float[] closingGradArenaRefusesStep(RMSProp opt, Parameter p, Arena gradArena, long steps) {
        float[] before = TestTensors.toArray(p.data());
        gradArena.close();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, opt::step);
        assertEquals("parameter 0: the arena of its grad segment is closed", e.getMessage());
        assertArrayEquals(before, TestTensors.toArray(p.data()));
        assertEquals(steps, opt.stateDict().state().get(0).step(), "the refused step was not counted");
        return before;
    }

    /**
     * A step over more distinct arenas than it can hold open is refused before anything is held
     * or changed; one arena fewer steps.
     */
    @Test
    void moreArenasThanAStepCanHoldAreRefused() {
        List<Arena> arenas = new ArrayList<>();
        try (Arena grads = Arena.ofShared()) {
            List<Parameter> params = new ArrayList<>();
            for (int i = 0; i < ArenaHold.MAX_SCOPES; i++) {  // + the gradients' arena: one too many
                Arena own = Arena.ofShared();
                arenas.add(own);
                params.add(Parameter.wrap(TestTensors.random(own, i, 4), TestTensors.random(grads, -i, 4)));
            }
            try (RMSProp tooMany = RMSProp.builder().build(params)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, tooMany::step);
                assertEquals("the step's tensors live in " + (ArenaHold.MAX_SCOPES + 1) + " different arenas, more "
                        + "than the " + ArenaHold.MAX_SCOPES + " a step can hold open: allocate them from fewer arenas "
                        + "(slices of one allocation also step faster)", e.getMessage());
                assertArrayEquals(TestTensors.random(0, 4), TestTensors.toArray(params.get(0).data()));
                assertTrue(tooMany.stateDict().state().isEmpty(), "no state was created");
            }
            try (RMSProp enough = RMSProp.builder().build(params.subList(1, params.size()))) {
                enough.step();
                assertEquals(ArenaHold.MAX_SCOPES - 1, enough.stateDict().state().size());
            }
        } finally {
            arenas.forEach(Arena::close);
        }
    }

    /**
     * A scope that cannot be held (closed, or confined to another thread) fails the run before
     * the call, wherever it sits in the chain; an exception of the call itself leaves the upcall
     * as an exception of run(). The hold works again afterwards, once it forgot the segments it
     * keeps between runs.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 3, 70, 140})
    void failuresInsideTheChainBecomeExceptions(int position) throws Exception {
        try (Arena own = Arena.ofShared(); ExecutorService other = Executors.newSingleThreadExecutor()) {
            List<Arena> arenas = new ArrayList<>();
            for (int i = 0; i < 150; i++) {
                arenas.add(Arena.ofShared());
            }
            int[] calls = {0};
            RuntimeException thrown = new IllegalStateException("thrown by the call");
            boolean[] throwFromCall = {false};
            IntSupplier call = () -> {
                calls[0]++;
                if (throwFromCall[0]) {
                    throw thrown;
                }
                return 0;
            };
            ArenaHold hold = new ArenaHold(own);
            Arena closed = Arena.ofShared();
            MemorySegment dead = closed.allocate(8);
            closed.close();
            MemorySegment foreign = other.submit(() -> Arena.ofConfined().allocate(8)).get();
            for (MemorySegment bad : List.of(dead, foreign)) {
                hold.forget();
                for (int i = 0; i < arenas.size(); i++) {
                    if (i == position) {
                        hold.add(bad);
                    }
                    hold.add(arenas.get(i).allocate(8));
                }
                RuntimeException e = assertThrows(RuntimeException.class, () -> hold.run(hold.callingBack(call)));
                assertTrue(bad == dead ? e instanceof IllegalStateException && e.getMessage().contains("closed")
                        : e instanceof WrongThreadException, e.toString());
                assertEquals(0, calls[0], "the call was not made");
            }
            throwFromCall[0] = true;
            hold.forget();
            arenas.forEach(a -> hold.add(a.allocate(8)));
            assertSame(thrown, assertThrows(IllegalStateException.class, () -> hold.run(hold.callingBack(call))));
            throwFromCall[0] = false;
            assertEquals(0, hold.run(hold.callingBack(call)), "the kept segments, held again");
            assertEquals(2, calls[0]);
            arenas.forEach(Arena::close);
        }
    }

    /**
     * Results do not depend on how parameters are spread over arenas: 40 parameters, each in
     * arenas of its own (shared, confined, automatic, global), step exactly like the same values
     * in one arena.
     */
    @Test
    void parametersInManyArenasStepLikeOneArena() {
        int count = 40;
        int numel = 33;
        List<Arena> closeable = new ArrayList<>();
        try (Arena one = Arena.ofConfined()) {
            List<Parameter> spread = new ArrayList<>();
            List<Parameter> together = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                Arena dataArena = switch (i % 4) {
                    case 0 -> Arena.ofShared();
                    case 1 -> Arena.ofConfined();
                    case 2 -> Arena.ofAuto();
                    default -> Arena.global();
                };
                Arena gradArena = i % 2 == 0 ? Arena.ofShared() : Arena.ofAuto();
                for (Arena a : List.of(dataArena, gradArena)) {
                    if (a != Arena.global() && !(i % 4 == 2 && a == dataArena) && !(i % 2 == 1 && a == gradArena)) {
                        closeable.add(a);
                    }
                }
                spread.add(Parameter.wrap(TestTensors.random(dataArena, 10 + i, numel),
                        TestTensors.random(gradArena, 100 + i, numel)));
                together.add(Parameter.wrap(TestTensors.random(one, 10 + i, numel),
                        TestTensors.random(one, 100 + i, numel)));
            }
            try (RMSProp a = RMSProp.builder().momentum(0.9).centered(true).build(spread);
                 RMSProp b = RMSProp.builder().momentum(0.9).centered(true).build(together)) {
                for (int step = 0; step < 5; step++) {
                    a.step();
                    b.step();
                }
                for (int i = 0; i < count; i++) {
                    assertArrayEquals(TestTensors.toArray(together.get(i).data()),
                            TestTensors.toArray(spread.get(i).data()));
                }
                StateDictTest.assertStatesEqual(b.stateDict(), a.stateDict());
            }
        } finally {
            closeable.forEach(Arena::close);
        }
    }

    /**
     * Steps while another thread closes the parameter's arena as soon as it can. After each
     * attempt, memory the closing thread allocated after the close (which may reuse the freed
     * memory) must be untouched. Arguments: the parameter's floats, and how many parameters in
     * arenas of their own come before it. Prints "verdict ok" or what went wrong.
     */
    public static final class CloseDuringSteps {
        /** Enough attempts to hit a step at 2^12 floats; one step at 2^24 lasts milliseconds. */
        private static final int SMALL_ATTEMPTS = 20;
        private static final int LARGE_ATTEMPTS = 3;
        private static final int MAX_STEPS = 100_000;
        /** How long the closer waits after the first step began: inside a step of 2^24 floats. */
        private static final long INTO_STEP_NANOS = 1_000_000;
        /** A pause between steps, where the closer's close() can succeed once it met a step. */
        private static final long PAUSE_NANOS = 50_000;

        public static void main(String[] args) throws Exception {
            int numel = Integer.parseInt(args[0]);
            int otherArenas = Integer.parseInt(args[1]);
            List<String> problems = new ArrayList<>();
            int refusedCloses = 0;
            int attempts = numel >= 1 << 20 ? LARGE_ATTEMPTS : SMALL_ATTEMPTS;
            try (Arena canaries = Arena.ofShared()) {
                for (int attempt = 0; attempt < attempts && problems.isEmpty(); attempt++) {
                    refusedCloses += attempt(numel, otherArenas, canaries, problems);
                }
            } catch (RuntimeException e) {  // a verdict, not a child that never ends
                problems.add("unexpected " + e);
            }
            System.out.println(numel + " floats after " + otherArenas + " other arenas, " + attempts + " attempts: "
                    + refusedCloses + " closes refused while a step held the arena");
            System.out.println("verdict " + (problems.isEmpty() ? "ok" : String.join("; ", problems)));
        }

        /** One optimizer over one arena that another thread closes; returns the refused closes. */
        private static int attempt(int numel, int otherArenas, Arena canaries, List<String> problems)
                throws Exception {
            Arena victim = Arena.ofShared();
            MemorySegment data = Tensors.allocate(victim, numel).fill((byte) 0x3f);
            MemorySegment grad = Tensors.allocate(victim, numel).fill((byte) 0x3f);
            AtomicBoolean stepping = new AtomicBoolean();
            AtomicBoolean closed = new AtomicBoolean();
            AtomicInteger refused = new AtomicInteger();
            List<MemorySegment> reused = new ArrayList<>();
            Thread closer = new Thread(() -> {
                // Busy, not parked: a parked thread woke only when the kernel's threads let go of
                // the cores, which is when the step ends. Then a moment into the step's native part.
                while (!stepping.get()) {
                    Thread.onSpinWait();
                }
                for (long start = System.nanoTime(); System.nanoTime() - start < INTO_STEP_NANOS; ) {
                    Thread.onSpinWait();
                }
                while (true) {
                    try {
                        victim.close();
                        break;
                    } catch (IllegalStateException e) {  // a step holds the arena: try again
                        refused.incrementAndGet();
                    }
                }
                closed.set(true);
                for (int i = 0; i < 4; i++) {  // likely to get the memory just freed
                    reused.add(canaries.allocate((long) numel * Float.BYTES, Tensors.ZERO_COPY_ALIGNMENT)
                            .fill((byte) 0).fill((byte) 0x42));
                }
            });
            closer.setDaemon(true);  // an attempt that fails must not keep the child JVM alive
            closer.start();
            List<Arena> others = new ArrayList<>();
            List<Parameter> params = new ArrayList<>();
            for (int i = 0; i < otherArenas; i++) {
                Arena other = Arena.ofShared();
                others.add(other);
                params.add(Parameter.wrap(Tensors.allocate(other, 4), Tensors.allocate(other, 4)));
            }
            params.add(Parameter.wrap(data, grad));
            try (RMSProp opt = RMSProp.builder().build(params)) {
                boolean refusedStep = false;
                for (int step = 0; step < MAX_STEPS && !refusedStep; step++) {
                    boolean closedBefore = closed.get();
                    try {
                        opt.step(() -> {
                            stepping.set(true);  // the closer starts while this step runs
                            return 0;
                        });
                        if (closedBefore) {
                            problems.add("a step ran after its arena was closed");
                        }
                    } catch (IllegalArgumentException e) {
                        // Data and grad share the arena: the close may land between their checks.
                        refusedStep = e.getMessage().matches(".*the arena of its (data|grad) segment is closed.*");
                        if (!refusedStep) {
                            problems.add("unexpected refusal: " + e.getMessage());
                        }
                    }
                    if (refused.get() > 0) {  // steps back to back until a close met one
                        LockSupport.parkNanos(PAUSE_NANOS);
                    }
                }
                if (!refusedStep) {
                    problems.add("no step saw the closed arena in " + MAX_STEPS + " steps");
                }
            }
            closer.join();
            others.forEach(Arena::close);
            for (MemorySegment canary : reused) {
                for (long i = 0; i < numel; i++) {
                    if (canary.getAtIndex(ValueLayout.JAVA_FLOAT, i) != Float.intBitsToFloat(0x42424242)) {
                        problems.add("memory allocated after the close was overwritten at float " + i);
                        break;
                    }
                }
            }
            return refused.get();
        }
    }
}
