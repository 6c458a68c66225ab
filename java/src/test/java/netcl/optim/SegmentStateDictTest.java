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
import java.util.LinkedHashMap;
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

    @Test
    void rangesReadThroughASmallWindowAreTheWholeBuffers() {
        try (Arena arena = Arena.ofConfined(); Model m = Model.create(arena)) {
            m.steps(2);
            SegmentParamState whole = m.opt.stateDict(arena).state().get(1);
            MemorySegment window = Tensors.allocate(arena, 1000);
            for (StateBuffer buffer : List.of(StateBuffer.SQUARE_AVG, StateBuffer.MOMENTUM_BUFFER, StateBuffer.GRAD_AVG)) {
                float[] ranges = new float[SIZES[1]];
                for (int at = 0; at < SIZES[1]; at += 1000) {
                    MemorySegment part = window.asSlice(0, (long) Math.min(1000, SIZES[1] - at) * Float.BYTES);
                    m.opt.readState(1, buffer, at, part);
                    MemorySegment.copy(part, ValueLayout.JAVA_FLOAT, 0, ranges, at, (int) (part.byteSize() / Float.BYTES));
                }
                MemorySegment expected = switch (buffer) {
                    case SQUARE_AVG -> whole.squareAvg();
                    case MOMENTUM_BUFFER -> whole.momentumBuffer();
                    default -> whole.gradAvg();
                };
                assertArrayEquals(TestTensors.toArray(expected), ranges, buffer.toString());
            }
            m.opt.readState(1, StateBuffer.SQUARE_AVG, SIZES[1], window.asSlice(0, 0));   // an empty range at the end
        }
    }

    @Test
    void badRangeReadsAreRefusedAndWriteNothing() {
        try (Arena arena = Arena.ofConfined(); Model m = Model.create(arena)) {
            m.steps(2);   // parameter 2 has state (one step) without momentum
            MemorySegment out = Tensors.allocate(arena, 8);
            out.fill((byte) 0x55);
            MemorySegment misaligned = arena.allocate(40, 8).asSlice(2, 32);
            MemorySegment closed;
            try (Arena gone = Arena.ofConfined()) {
                closed = gone.allocate(32, 4);
            }
            Map<String, Runnable> bad = new LinkedHashMap<>();
            bad.put("no such parameter", () -> m.opt.readState(3, StateBuffer.SQUARE_AVG, 0, out));
            bad.put("negative index", () -> m.opt.readState(-1, StateBuffer.SQUARE_AVG, 0, out));
            bad.put("no such buffer", () -> m.opt.readState(2, StateBuffer.MOMENTUM_BUFFER, 0, out));
            bad.put("no master for FP32", () -> m.opt.readState(0, StateBuffer.MASTER, 0, out.asSlice(0, 4)));
            bad.put("beyond the end", () -> m.opt.readState(0, StateBuffer.SQUARE_AVG, 0, out));
            bad.put("starts past the end", () -> m.opt.readState(0, StateBuffer.SQUARE_AVG, 6, out.asSlice(0, 0)));
            bad.put("negative first", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, -1, out));
            bad.put("huge first", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, Long.MAX_VALUE, out));
            bad.put("heap", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, MemorySegment.ofArray(new float[8])));
            bad.put("read-only", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, out.asReadOnly()));
            bad.put("misaligned", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, misaligned));
            bad.put("closed", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, closed));
            bad.put("part of a float", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, out.asSlice(0, 6)));
            bad.put("null buffer", () -> m.opt.readState(1, null, 0, out));
            bad.put("null out", () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, null));
            StateDict before = m.opt.stateDict();
            bad.forEach((what, call) -> {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run, what);
                assertFalse(e.getMessage().isEmpty(), what);
                for (int i = 0; i < 8; i++) {
                    assertEquals(0x55555555, out.getAtIndex(ValueLayout.JAVA_INT, i), what + ": out was written");
                }
            });
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> m.opt.readState(2, StateBuffer.MOMENTUM_BUFFER, 0, out)).getMessage()
                    .contains("parameter 2 has no MOMENTUM_BUFFER state"));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> m.opt.readState(0, StateBuffer.SQUARE_AVG, 0, out)).getMessage()
                    .contains("8 elements from 0 go beyond its 5"));
            StateDict after = m.opt.stateDict();
            for (int i : before.state().keySet()) {
                assertArrayEquals(before.state().get(i).squareAvg(), after.state().get(i).squareAvg());
            }
            m.opt.close();
            assertThrows(IllegalStateException.class, () -> m.opt.readState(1, StateBuffer.SQUARE_AVG, 0, out));
        }
    }

    private static SegmentStateDict sd(int index, SegmentParamState s) {
        Map<Integer, SegmentParamState> state = new HashMap<>();
        state.put(index, s);
        return new SegmentStateDict(state, null);
    }
}
