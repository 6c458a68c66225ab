package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every bad input: the exception, its message, and that parameters and state did not change. */
class ValidationTest {

    private static void expect(Class<? extends Throwable> type, String message, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(message), "'" + e.getMessage() + "' lacks '" + message + "'");
    }

    @Test
    void hyperparametersAreCheckedLikePyTorch() {
        expect(IllegalArgumentException.class, "Invalid learning rate: -0.001", () -> RMSProp.builder().lr(-1e-3));
        expect(IllegalArgumentException.class, "Invalid learning rate: NaN", () -> RMSProp.builder().lr(Double.NaN));
        expect(IllegalArgumentException.class, "Invalid learning rate: Infinity",
                () -> RMSProp.builder().lr(Double.POSITIVE_INFINITY));
        expect(IllegalArgumentException.class, "Invalid epsilon value: -1.0", () -> RMSProp.builder().eps(-1));
        expect(IllegalArgumentException.class, "Invalid epsilon value: NaN", () -> RMSProp.builder().eps(Double.NaN));
        expect(IllegalArgumentException.class, "Invalid momentum value: -0.5", () -> RMSProp.builder().momentum(-0.5));
        expect(IllegalArgumentException.class, "Invalid momentum value: NaN",
                () -> RMSProp.builder().momentum(Double.NaN));
        expect(IllegalArgumentException.class, "Invalid weight_decay value: -0.1",
                () -> RMSProp.builder().weightDecay(-0.1));
        expect(IllegalArgumentException.class, "Invalid weight_decay value: NaN",
                () -> RMSProp.builder().weightDecay(Double.NaN));
        expect(IllegalArgumentException.class, "Invalid alpha value: 1.5", () -> RMSProp.builder().alpha(1.5));
        expect(IllegalArgumentException.class, "Invalid alpha value: -0.1", () -> RMSProp.builder().alpha(-0.1));
        expect(IllegalArgumentException.class, "Invalid alpha value: NaN", () -> RMSProp.builder().alpha(Double.NaN));
        expect(IllegalArgumentException.class, "device selector is empty", () -> RMSProp.builder().device(" "));
        assertDoesNotThrow(() -> RMSProp.builder().alpha(0).alpha(1).lr(0).eps(0).momentum(0).weightDecay(0));
    }

    @Test
    void segmentsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment good = Tensors.allocate(arena, 8);
            MemorySegment grad = Tensors.allocate(arena, 8);
            expect(IllegalArgumentException.class, "data is null", () -> Parameter.wrap(null, grad));
            expect(IllegalArgumentException.class, "data is a heap segment",
                    () -> Parameter.wrap(MemorySegment.ofArray(new float[8]), grad));
            expect(IllegalArgumentException.class, "grad is a heap segment",
                    () -> Parameter.wrap(good, MemorySegment.ofArray(new float[8])));
            expect(IllegalArgumentException.class, "data is read-only", () -> Parameter.wrap(good.asReadOnly(), grad));
            expect(IllegalArgumentException.class, "grad is read-only", () -> Parameter.wrap(good, grad.asReadOnly()));
            expect(IllegalArgumentException.class, "data has 0 bytes", () -> Parameter.wrap(good.asSlice(0, 0), null));
            expect(IllegalArgumentException.class, "data has 6 bytes, not a positive multiple of 4",
                    () -> Parameter.wrap(good.asSlice(0, 6), null));
            expect(IllegalArgumentException.class, "is not aligned to 4 bytes",
                    () -> Parameter.wrap(good.asSlice(2, 8), null));
            expect(IllegalArgumentException.class, "grad has 4 floats but data has 8",
                    () -> Parameter.wrap(good, grad.asSlice(0, 16)));
            expect(IllegalArgumentException.class, "grad overlaps data", () -> Parameter.wrap(good, good));
            Parameter p = Parameter.wrap(good, grad);
            expect(IllegalArgumentException.class, "grad has 2 floats", () -> p.grad(grad.asSlice(0, 8)));
            // A segment at address 0 was taken as "no gradient" by the C side: the step skipped it.
            @SuppressWarnings("restricted")
            MemorySegment nullGrad = MemorySegment.ofAddress(0).reinterpret(32);
            expect(IllegalArgumentException.class, "grad is at address 0", () -> p.grad(nullGrad));
            expect(IllegalArgumentException.class, "data is at address 0", () -> Parameter.wrap(nullGrad, null));
            assertEquals(grad, p.grad(), "the refused gradient did not replace the old one");
            MemorySegment closed;
            try (Arena shortLived = Arena.ofConfined()) {
                closed = shortLived.allocate(32);
            }
            MemorySegment dead = closed;
            expect(IllegalArgumentException.class, "data: the segment's arena is closed", () -> Parameter.wrap(dead, null));
            expect(IllegalArgumentException.class, "grad: the segment's arena is closed", () -> p.grad(dead));
            assertEquals(grad, p.grad(), "a refused grad leaves the old one");
        }
    }

    /** A length whose byte size overflows a long is refused, not wrapped into a small segment. */
    @Test
    void tensorLengthsBeyondTheAddressSpaceAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            for (long numel : new long[] {1L << 62, (1L << 62) + 1, (1L << 62) + 8, Long.MAX_VALUE / Float.BYTES + 1,
                    Long.MAX_VALUE}) {
                expect(IllegalArgumentException.class, "numel " + numel + " is too large: " + numel
                        + " floats do not fit in a memory segment", () -> Tensors.allocate(arena, numel));
            }
            expect(IllegalArgumentException.class, "numel must be positive, got 0", () -> Tensors.allocate(arena, 0));
            expect(IllegalArgumentException.class, "numel must be positive, got -1", () -> Tensors.allocate(arena, -1));
            MemorySegment after = Tensors.allocate(arena, 3);
            assertEquals(12, after.byteSize(), "the arena still allocates after a refused size");
            assertEquals(0, after.address() % Tensors.ZERO_COPY_ALIGNMENT);
        }
    }

    @Test
    void parameterListsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter a = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            Parameter b = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            expect(IllegalArgumentException.class, "optimizer got an empty parameter list",
                    () -> RMSProp.builder().build(List.of()));
            expect(IllegalArgumentException.class, "parameter 1 appears twice", () -> RMSProp.builder().build(List.of(a, a)));
            Parameter alias = Parameter.wrap(a.data().asSlice(4, 8), null);
            expect(IllegalArgumentException.class, "two parameters share memory",
                    () -> RMSProp.builder().build(List.of(a, alias)));
            try (RMSProp opt = RMSProp.builder().build(List.of(a))) {
                expect(IllegalArgumentException.class, "some parameters appear in more than one parameter group",
                        () -> opt.addParamGroup(ParamGroup.of(List.of(b, a))));
                expect(IllegalArgumentException.class, "group is null", () -> opt.addParamGroup(null));
                assertEquals(1, opt.paramGroups().size(), "a refused group is not added");
                opt.addParamGroup(ParamGroup.of(List.of(b)));
                assertEquals(2, opt.paramGroups().size());
                assertThrows(UnsupportedOperationException.class, () -> opt.paramGroups().clear());
            }
        }
    }

    /** A step whose parameter memory was freed is refused before any native call. */
    @Test
    void stepWithClosedArenaChangesNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = TestTensors.random(arena, 1, 16);
            MemorySegment grad = TestTensors.random(arena, 2, 16);
            Parameter kept = Parameter.wrap(data, grad);
            Arena shortLived = Arena.ofConfined();
            Parameter doomed = Parameter.wrap(Tensors.allocate(shortLived, 16), Tensors.allocate(shortLived, 16));
            try (RMSProp opt = RMSProp.builder().build(List.of(kept, doomed))) {
                opt.step();
                float[] before = TestTensors.toArray(data);
                StateDict state = opt.stateDict();
                shortLived.close();
                expect(IllegalArgumentException.class, "parameter 1: the arena of its data segment is closed", opt::step);
                assertArrayEquals(before, TestTensors.toArray(data));
                StateDictTest.assertStatesEqual(state, opt.stateDict());
            }
        }
    }

    @Test
    void closedOptimizerRefusesUse() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter p = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            RMSProp opt = RMSProp.builder().build(List.of(p));
            opt.close();
            assertDoesNotThrow(opt::close, "close twice is harmless");
            List<Consumer<RMSProp>> calls = List.of(RMSProp::step, o -> o.step(() -> 1.0), RMSProp::zeroGrad,
                    o -> o.zeroGrad(true), RMSProp::paramGroups, RMSProp::stateDict,
                    o -> o.loadStateDict(StateDict.of(java.util.Map.of())), RMSProp::stagedBytes,
                    RMSProp::lastLaunchCount, o -> o.addParamGroup(ParamGroup.of(List.of(p))));
            for (Consumer<RMSProp> call : calls) {
                expect(IllegalStateException.class, "the optimizer is closed", () -> call.accept(opt));
            }
        }
    }

    @Test
    void selectorWithNulIsRefusedAndTheChoiceKept() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter p = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            RMSProp.Builder builder = RMSProp.builder().device("no-such-device-anywhere");
            expect(IllegalArgumentException.class, "device selector contains a NUL character at index 1",
                    () -> builder.device("0\0no-such-device"));
            NetclException e = assertThrows(NetclException.class, () -> builder.build(List.of(p)));
            assertTrue(e.nativeMessage().contains("'no-such-device-anywhere'"), e.nativeMessage());
        }
    }

    @Test
    void nativeFailuresCarryStatusAndMessage() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter p = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            NetclException e = assertThrows(NetclException.class,
                    () -> RMSProp.builder().device("no-such-device-anywhere").build(List.of(p)));
            assertEquals("NETCL_NO_DEVICE", e.statusName());
            assertEquals(-2002, e.status());
            assertTrue(e.nativeMessage().contains("no OpenCL device whose name contains 'no-such-device-anywhere'"),
                    e.nativeMessage());
            assertTrue(e.getMessage().startsWith("netcl_context_create_for failed: NETCL_NO_DEVICE: "), e.getMessage());
        }
    }
}
