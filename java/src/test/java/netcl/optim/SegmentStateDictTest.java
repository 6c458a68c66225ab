package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The state dict in memory segments: same values as the float[] form, same checks, nothing changed on refusal. */
class SegmentStateDictTest {
    private static final int[] SIZES = {5, 4099, 1};

    private record Model(List<MemorySegment> grads, List<Parameter> params, RMSProp opt) implements AutoCloseable {
        static Model create(Arena arena) {
            List<MemorySegment> grads = new ArrayList<>();
            List<Parameter> params = new ArrayList<>();
            for (int i = 0; i < SIZES.length; i++) {
                grads.add(Tensors.allocate(arena, SIZES[i]));
                params.add(Parameter.wrap(TestTensors.random(arena, 10 + i, SIZES[i]), grads.get(i)));
            }
            RMSProp opt = RMSProp.builder().momentum(0.9).centered(true).build(params.subList(0, 2));
            opt.addParamGroup(ParamGroup.of(params.subList(2, 3)).momentum(0).centered(false));
            return new Model(grads, params, opt);
        }

        void steps(int n) {
            for (int s = 0; s < n; s++) {
                for (int i = 0; i < SIZES.length; i++) {
                    TestTensors.set(grads.get(i), TestTensors.random(100L * s + i, SIZES[i]));
                }
                params.get(2).grad(s == 0 ? grads.get(2) : null);
                opt.step();
            }
        }

        @Override
        public void close() {
            opt.close();
        }
    }

    @Test
    void segmentFormHoldsTheFloatArrayFormsValues() {
        try (Arena arena = Arena.ofConfined(); Model m = Model.create(arena)) {
            m.steps(3);
            StateDict arrays = m.opt.stateDict();
            SegmentStateDict segments = m.opt.stateDict(arena);
            assertEquals(arrays.paramGroups(), segments.paramGroups());
            assertEquals(arrays.state().keySet(), segments.state().keySet());
            for (Map.Entry<Integer, ParamState> e : arrays.state().entrySet()) {
                SegmentParamState s = segments.state().get(e.getKey());
                assertEquals(e.getValue().step(), s.step());
                assertArrayEquals(e.getValue().squareAvg(), TestTensors.toArray(s.squareAvg()));
                assertArrayEquals(e.getValue().momentumBuffer(), s.momentumBuffer() == null ? null
                        : TestTensors.toArray(s.momentumBuffer()));
                assertArrayEquals(e.getValue().gradAvg(), s.gradAvg() == null ? null : TestTensors.toArray(s.gradAvg()));
            }
            Map<Integer, ParamStateInfo> info = m.opt.stateInfo();
            assertEquals(new ParamStateInfo(3, 4099, true, true), info.get(1));
            assertEquals(new ParamStateInfo(1, 1, false, false), info.get(2));
        }
    }

    @Test
    void loadingSegmentsRoundTripsAndAcceptsReadOnlyMemory() {
        try (Arena arena = Arena.ofConfined(); Model a = Model.create(arena); Model b = Model.create(arena)) {
            a.steps(2);
            SegmentStateDict sd = a.opt.stateDict(arena);
            Map<Integer, SegmentParamState> readOnly = new HashMap<>();
            sd.state().forEach((i, s) -> readOnly.put(i, new SegmentParamState(s.step(), s.squareAvg().asReadOnly(),
                    s.momentumBuffer() == null ? null : s.momentumBuffer().asReadOnly(),
                    s.gradAvg() == null ? null : s.gradAvg().asReadOnly())));
            b.opt.loadStateDict(new SegmentStateDict(readOnly, sd.paramGroups()));
            StateDict x = a.opt.stateDict();
            StateDict y = b.opt.stateDict();
            assertEquals(x.state().keySet(), y.state().keySet());
            for (int i : x.state().keySet()) {
                assertArrayEquals(x.state().get(i).squareAvg(), y.state().get(i).squareAvg());
                assertArrayEquals(x.state().get(i).momentumBuffer(), y.state().get(i).momentumBuffer());
            }
        }
    }

    @Test
    void badAllocatorsAreRefusedBeforeTheNativeCopy() {
        try (Arena arena = Arena.ofConfined(); Model m = Model.create(arena)) {
            m.steps(1);
            assertThrows(IllegalStateException.class, () -> m.opt.stateDict((bytes, align) -> arena.allocate(bytes - 4)));
            assertThrows(IllegalStateException.class,
                    () -> m.opt.stateDict((bytes, align) -> arena.allocate(bytes).asReadOnly()));
            assertThrows(IllegalStateException.class,
                    () -> m.opt.stateDict((bytes, align) -> MemorySegment.ofArray(new float[(int) bytes / 4])));
            assertThrows(IllegalArgumentException.class, () -> m.opt.stateDict((java.lang.foreign.SegmentAllocator) null));
        }
    }

    @Test
    void badSegmentsAreRefusedAndNothingChanges() {
        try (Arena arena = Arena.ofConfined(); Model m = Model.create(arena)) {
            m.steps(2);
            StateDict before = m.opt.stateDict();
            MemorySegment five = Tensors.allocate(arena, 5);
            MemorySegment closed;
            try (Arena gone = Arena.ofConfined()) {
                closed = gone.allocate(20);
            }
            MemorySegment misaligned = arena.allocate(24, 8).asSlice(2, 20);
            List<SegmentStateDict> bad = List.of(
                    sd(0, new SegmentParamState(1, Tensors.allocate(arena, 4), null, null)),        // wrong size
                    sd(0, new SegmentParamState(1, MemorySegment.ofArray(new float[5]), null, null)), // heap
                    sd(0, new SegmentParamState(1, closed, null, null)),                              // closed
                    sd(0, new SegmentParamState(1, misaligned, null, null)),                          // misaligned
                    sd(0, new SegmentParamState(-1, five, null, null)),                               // negative step
                    sd(0, new SegmentParamState(1, null, five, null)),                                // no square_avg
                    sd(3, new SegmentParamState(1, five, null, null)),                                // no such parameter
                    sd(0, new SegmentParamState(1, five, Tensors.allocate(arena, 6), null)),          // momentum size
                    new SegmentStateDict(Map.of(), List.of()));                                       // group count
            for (SegmentStateDict sd : bad) {
                assertThrows(IllegalArgumentException.class, () -> m.opt.loadStateDict(sd), sd.toString());
                StateDict after = m.opt.stateDict();
                assertEquals(before.paramGroups(), after.paramGroups());
                for (int i : before.state().keySet()) {
                    assertArrayEquals(before.state().get(i).squareAvg(), after.state().get(i).squareAvg());
                    assertEquals(before.state().get(i).step(), after.state().get(i).step());
                }
            }
            assertThrows(IllegalArgumentException.class, () -> m.opt.loadStateDict((SegmentStateDict) null));
            assertFalse(m.opt.stateDict().state().isEmpty());
            assertNull(m.opt.stateDict().state().get(2).momentumBuffer());
            assertTrue(five.scope().isAlive());
            assertEquals(0f, five.get(ValueLayout.JAVA_FLOAT, 0));
        }
    }

    private static SegmentStateDict sd(int index, SegmentParamState s) {
        Map<Integer, SegmentParamState> state = new HashMap<>();
        state.put(index, s);
        return new SegmentStateDict(state, null);
    }
}
