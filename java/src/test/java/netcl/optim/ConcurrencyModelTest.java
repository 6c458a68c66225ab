package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

/**
 * The model for objects shared between the caller and the optimizer: a group belongs to one
 * optimizer; a step reads each group's options as one snapshot and each parameter's gradient
 * once; setters between steps take effect at the next step.
 *
 * <p>The steps here are exact: with alpha 0, eps 0 and a gradient of +-1 everywhere, square_avg
 * is 1 and a step moves every element by exactly -lr * grad (maximize: +lr * grad), so each
 * step's options and gradient can be read back from how far the data moved.
 */
class ConcurrencyModelTest {
    private static final int N = 4096;
    private static final int STEPS = 4000;

    private static RMSProp.Builder exact() {
        return RMSProp.builder().alpha(0).eps(0);
    }

    private static MemorySegment filled(Arena arena, float value) {
        MemorySegment s = Tensors.allocate(arena, N);
        for (int i = 0; i < N; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, value);
        }
        return s;
    }

    /** How far every element moved, or NaN when the elements moved by different amounts. */
    private static float uniformMove(float[] before, MemorySegment data) {
        float move = data.getAtIndex(ValueLayout.JAVA_FLOAT, 0) - before[0];
        for (int i = 0; i < N; i++) {
            if (data.getAtIndex(ValueLayout.JAVA_FLOAT, i) - before[i] != move) {
                return Float.NaN;
            }
        }
        return move;
    }

    /**
     * addParamGroup adopts the group: it becomes the optimizer's live group (inherited options
     * written into it, as PyTorch writes defaults into the dict it is given). A group that already
     * belongs to an optimizer, this one or another, is refused with nothing changed: its options
     * would otherwise be another optimizer's and its setters would move two optimizers at once.
     */
    @Test
    void aGroupBelongsToOneOptimizer() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter a = Parameter.wrap(filled(arena, 0), filled(arena, 1));
            Parameter b = Parameter.wrap(filled(arena, 0), filled(arena, 1));
            Parameter c = Parameter.wrap(filled(arena, 0), filled(arena, 1));
            try (RMSProp first = exact().lr(0.5).momentum(0.25).build(List.of(a));
                 RMSProp second = exact().lr(3).build(List.of(c))) {
                ParamGroup group = ParamGroup.of(List.of(b)).centered(true);
                first.addParamGroup(group);
                assertSame(group, first.paramGroups().get(1), "the caller's object is the live group");
                assertEquals(0.5, group.lr());
                assertEquals(0.25, group.momentum());

                for (RMSProp opt : List.of(first, second)) {
                    List<ParamGroup> before = opt.paramGroups();
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> opt.addParamGroup(group));
                    assertEquals("this ParamGroup already belongs to an optimizer: create a new one with "
                            + "ParamGroup.of(...) for another optimizer", e.getMessage());
                    assertEquals(before, opt.paramGroups(), "no group added");
                }
                assertEquals(0.5, group.lr(), "options unchanged");
                assertEquals(0.25, group.momentum());
                assertTrue(group.centered());
                second.step();
                assertEquals(Set.of(0), second.stateDict().state().keySet(), "the second optimizer steps only c");
                assertEquals(-3f, c.data().getAtIndex(ValueLayout.JAVA_FLOAT, 0));

                // A refused group stays unowned and unset: another optimizer may still adopt it.
                ParamGroup refused = ParamGroup.of(List.of(a));
                assertThrows(IllegalArgumentException.class, () -> first.addParamGroup(refused));
                assertTrue(Double.isNaN(refused.lr()), "nothing inherited");
                second.addParamGroup(refused);
                assertEquals(3, refused.lr());
            }
        }
    }

    /** A setter called between steps (a schedule) takes effect at the very next step. */
    @Test
    void settersBetweenStepsTakeEffectAtTheNextStep() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = filled(arena, 0);
            float[] before = TestTensors.toArray(data);
            try (RMSProp opt = exact().build(List.of(Parameter.wrap(data, filled(arena, 1))))) {
                ParamGroup group = opt.paramGroups().get(0);
                double[][] schedule = {{1, 0}, {2, 0}, {0.5, 1}, {4, 1}, {0.25, 0}};
                for (double[] options : schedule) {
                    group.lr(options[0]).maximize(options[1] == 1);
                    opt.step();
                    assertEquals((float) (options[1] == 1 ? options[0] : -options[0]), uniformMove(before, data));
                    before = TestTensors.toArray(data);
                }
            }
        }
    }

    /**
     * Another thread flips a group between two option sets while steps run, each flip atomic
     * under the group's monitor (the documented way to change several options at once). Every
     * step sees one set or the other: lr 1 without maximize (-1) or lr 2 with it (+2), never a
     * mix (+1 or -2).
     */
    @Test
    void aStepReadsEachGroupsOptionsAsOneSnapshot() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            MemorySegment data = filled(arena, 0);
            try (RMSProp opt = exact().lr(1).build(List.of(Parameter.wrap(data, filled(arena, 1))))) {
                ParamGroup group = opt.paramGroups().get(0);
                AtomicBoolean done = new AtomicBoolean();
                Future<?> flipper = pool.submit(() -> {
                    while (!done.get()) {
                        synchronized (group) {
                            group.lr(2).maximize(true);
                        }
                        synchronized (group) {
                            group.lr(1).maximize(false);
                        }
                    }
                });
                Set<Float> moves = new TreeSet<>();
                try {
                    float[] before = TestTensors.toArray(data);
                    for (int step = 0; step < STEPS; step++) {
                        opt.step();
                        moves.add(uniformMove(before, data));
                        before = TestTensors.toArray(data);
                    }
                } finally {
                    done.set(true);
                    flipper.get();
                }
                assertTrue(Set.of(-1f, 2f).containsAll(moves), "moves per step: " + moves);
            }
        }
    }

    /**
     * Another thread swaps the gradient among +1, -1 and none while steps run, and closes the
     * arena of each gradient it swapped out. Every step uses one whole gradient (each element
     * moves by -1, +1 or, without a gradient, 0), and a gradient a step is using stays valid
     * until that step ends: closing its arena meanwhile throws and is tried again.
     */
    @Test
    void gradientSwapsDuringStepsUseTheOldOrTheNewGradient() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            MemorySegment data = filled(arena, 0);
            Parameter p = Parameter.wrap(data, null);
            try (RMSProp opt = exact().lr(1).build(List.of(p))) {
                AtomicBoolean done = new AtomicBoolean();
                Future<Integer> swapper = pool.submit(() -> {
                    int refusedCloses = 0;
                    Arena previous = null;
                    for (int swap = 0; !done.get(); swap++) {
                        Arena next = Arena.ofShared();
                        p.grad(swap % 3 == 2 ? null : filled(next, swap % 3 == 0 ? 1 : -1));
                        while (previous != null) {
                            try {
                                previous.close();
                                previous = null;
                            } catch (IllegalStateException e) {  // a step still uses it
                                refusedCloses++;
                            }
                        }
                        previous = next;
                    }
                    previous.close();
                    return refusedCloses;
                });
                List<Float> moves = new ArrayList<>();
                try {
                    float[] before = TestTensors.toArray(data);
                    for (int step = 0; step < STEPS; step++) {
                        opt.step();
                        moves.add(uniformMove(before, data));
                        before = TestTensors.toArray(data);
                    }
                } finally {
                    done.set(true);
                    System.out.println("closes refused while a step used the gradient: " + swapper.get());
                }
                Set<Float> distinct = new TreeSet<>(moves);
                assertTrue(Set.of(-1f, 0f, 1f).containsAll(distinct), "moves per step: " + distinct);
                long stepped = moves.stream().filter(m -> m != 0).count();
                long recorded = opt.stateDict().state().isEmpty() ? 0 : opt.stateDict().state().get(0).step();
                assertEquals(stepped, recorded, "state's step count = steps that had a gradient");
            }
        }
    }

    /** The list paramGroups() returns may be iterated while another thread adds groups. */
    @Test
    void paramGroupsMayBeIteratedWhileGroupsAreAdded() throws Exception {
        int groups = 300;
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            MemorySegment block = Tensors.allocate(arena, 4L * (groups + 1));
            try (RMSProp opt = exact().build(List.of(Parameter.wrap(block.asSlice(0, 16), null)))) {
                Future<?> adder = pool.submit(() -> {
                    for (int g = 1; g <= groups; g++) {
                        opt.addParamGroup(ParamGroup.of(List.of(Parameter.wrap(block.asSlice(16L * g, 16), null))));
                    }
                });
                int lastSize = 0;
                while (!adder.isDone()) {
                    int size = 0;
                    for (ParamGroup g : opt.paramGroups()) {
                        assertEquals(1e-2, g.lr(), "a group is listed with its inherited options");
                        size++;
                    }
                    assertTrue(size >= lastSize, "groups never disappear");
                    lastSize = size;
                }
                adder.get();
                assertEquals(groups + 1, opt.paramGroups().size());
            }
        }
    }

    /** zeroGrad reads each gradient once: one swapped to null meanwhile is neither filled nor a failure. */
    @Test
    void zeroGradAndGradientSwapsDoNotTear() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            MemorySegment grad = filled(arena, 1);
            Parameter p = Parameter.wrap(filled(arena, 0), grad);
            try (RMSProp opt = exact().build(List.of(p))) {
                AtomicBoolean done = new AtomicBoolean();
                Future<?> swapper = pool.submit(() -> {
                    while (!done.get()) {
                        p.grad(null);
                        p.grad(grad);
                    }
                });
                try {
                    for (int i = 0; i < 20_000; i++) {
                        opt.zeroGrad();  // a second read of the gradient could see null: NullPointerException
                    }
                } finally {
                    done.set(true);
                    swapper.get();
                }
                assertSame(grad, p.grad(), "the swapper's last word");
                opt.zeroGrad();
                assertArrayEquals(new float[N], TestTensors.toArray(grad));
            }
        }
    }
}
