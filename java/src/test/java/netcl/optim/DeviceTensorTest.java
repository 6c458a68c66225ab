package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Device contexts and tensors on their own: the default devices, allocation (zeroed), copies
 * both ways, slices, fills, and every misuse (closed tensors and contexts, wrong sizes, heap
 * memory, wrapped buffers) refused with the tensor unchanged.
 */
class DeviceTensorTest {

    private static void expect(Class<? extends Throwable> type, String message, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(message), "'" + e.getMessage() + "' lacks '" + message + "'");
    }

    /** The first device netcl can run exactly that passes the first test of `order` any passes. */
    @SafeVarargs
    private static Device expectedDefault(java.util.function.Predicate<Device>... order) {
        List<Device> exact = Device.list().stream().filter(Device::correctlyRoundedDivideSqrt).toList();
        for (java.util.function.Predicate<Device> test : order) {
            for (Device d : exact) {
                if (test.test(d)) {
                    return d;
                }
            }
        }
        throw new AssertionError("no device netcl can run exactly");
    }

    @Test
    void defaultDevicesDependOnWhereTheTensorsLive() {
        Device forDevice = expectedDefault(d -> d.gpu() && !d.hostUnifiedMemory(), Device::gpu,
                Device::accelerator, Device::cpu, d -> true);
        Device forHost = expectedDefault(d -> d.cpu() && d.hostUnifiedMemory(), Device::hostUnifiedMemory,
                Device::gpu, Device::accelerator, Device::cpu, d -> true);
        try (DeviceContext context = DeviceContext.create();
             Arena arena = Arena.ofConfined();
             RMSProp opt = RMSProp.builder().build(List.of(Parameter.wrap(Tensors.allocate(arena, 4), null)))) {
            assertEquals(forDevice.index(), context.device().index());
            assertEquals(forHost.index(), opt.device().index());
            assertTrue(context.device().correctlyRoundedDivideSqrt());
        }
        expect(NetclException.class, "NETCL_NO_DEVICE", () -> DeviceContext.create("no-such-device-xyz"));
        expect(IllegalArgumentException.class, "device selector is empty", () -> DeviceContext.create(" "));
        expect(IllegalArgumentException.class, "NUL character", () -> DeviceContext.create("0\0"));
    }

    @Test
    void allocateCopySliceAndFill() {
        try (DeviceContext context = DeviceContext.create();
             DeviceTensor t = DeviceTensor.allocate(context, 100);
             Arena arena = Arena.ofConfined()) {
            assertArrayEquals(new float[100], t.toArray(), "a new tensor is zeroed");
            float[] values = TestTensors.random(3, 100);
            t.copyFrom(TestTensors.of(arena, values));
            assertArrayEquals(values, t.toArray());
            try (DeviceTensor middle = t.slice(10, 20)) {
                assertEquals(10, middle.offset());
                assertEquals(20, middle.numel());
                assertTrue(middle.buffer().equals(t.buffer()));
                assertArrayEquals(Arrays.copyOfRange(values, 10, 30), middle.toArray());
                middle.fill(-1.5f);
                Arrays.fill(values, 10, 30, -1.5f);
                MemorySegment back = Tensors.allocate(arena, 100);
                t.copyTo(back);
                assertArrayEquals(values, TestTensors.toArray(back));
                try (DeviceTensor inner = middle.slice(5, 5)) {
                    assertEquals(15, inner.offset(), "offsets add up");
                    inner.copyFrom(Tensors.of(arena, 1, 2, 3, 4, 5).asReadOnly());
                }
                System.arraycopy(new float[] {1, 2, 3, 4, 5}, 0, values, 15, 5);
                assertArrayEquals(values, t.toArray());
            }
        }
    }

    @Test
    void misuseIsRefusedAndChangesNothing() {
        try (DeviceContext context = DeviceContext.create();
             DeviceTensor t = DeviceTensor.allocate(context, 8);
             Arena arena = Arena.ofConfined()) {
            float[] values = TestTensors.random(4, 8);
            t.copyFrom(TestTensors.of(arena, values));
            expect(IllegalArgumentException.class, "context is null", () -> DeviceTensor.allocate(null, 8));
            expect(IllegalArgumentException.class, "numel must be positive", () -> DeviceTensor.allocate(context, 0));
            expect(IllegalArgumentException.class, "largest allocation",
                    () -> DeviceTensor.allocate(context, context.device().maxAllocationBytes() / 4 + 1));
            expect(IllegalArgumentException.class, "source has 28 bytes, the tensor 32",
                    () -> t.copyFrom(Tensors.allocate(arena, 7)));
            expect(IllegalArgumentException.class, "source is a heap segment",
                    () -> t.copyFrom(MemorySegment.ofArray(new float[8])));
            expect(IllegalArgumentException.class, "source is null", () -> t.copyFrom(null));
            expect(IllegalArgumentException.class, "target is read-only",
                    () -> t.copyTo(Tensors.allocate(arena, 8).asReadOnly()));
            expect(IllegalArgumentException.class, "slice [4, 4 + 5) is not within this tensor's 8 floats",
                    () -> t.slice(4, 5));
            expect(IllegalArgumentException.class, "is not within", () -> t.slice(-1, 2));
            Arena closed = Arena.ofConfined();
            MemorySegment gone = Tensors.allocate(closed, 8);
            closed.close();
            expect(IllegalArgumentException.class, "the segment's arena is closed", () -> t.copyFrom(gone));
            try (DeviceTensor wrapped = DeviceTensor.wrap(t.buffer(), 0, 8)) {
                expect(IllegalStateException.class, "another OpenCL user's buffer", wrapped::toArray);
                expect(IllegalStateException.class, "another OpenCL user's buffer", () -> wrapped.fill(0));
            }
            assertArrayEquals(values, t.toArray(), "nothing changed");

            DeviceTensor slice = t.slice(0, 4);
            slice.close();
            slice.close();  // idempotent
            assertFalse(slice.isOpen());
            expect(IllegalStateException.class, "the DeviceTensor is closed", () -> slice.fill(0));
            expect(IllegalStateException.class, "the DeviceTensor is closed", () -> slice.slice(0, 1));
            expect(IllegalArgumentException.class, "data: the DeviceTensor is closed", () -> Parameter.wrap(slice, null));
            assertArrayEquals(values, t.toArray(), "closing a slice leaves its buffer to the others");
        }
    }

    @Test
    void aClosedContextCopiesNothingButItsOptimizersGoOn() {
        DeviceContext context = DeviceContext.create();
        try (DeviceTensor w = DeviceTensor.allocate(context, 16);
             DeviceTensor g = DeviceTensor.allocate(context, 16)) {
            RMSProp opt = RMSProp.builder().context(context).build(List.of(Parameter.wrap(w, g)));
            g.fill(1f);
            context.close();
            expect(IllegalStateException.class, "the DeviceContext is closed", () -> g.fill(2f));
            expect(IllegalStateException.class, "the DeviceContext is closed", () -> DeviceTensor.allocate(context, 1));
            expect(IllegalStateException.class, "the DeviceContext is closed",
                    () -> RMSProp.builder().context(context).build(List.of(Parameter.wrap(w, g))));
            opt.step();  // the optimizer keeps its context alive
            assertEquals(1, opt.stateDict().state().get(0).step());
            opt.close();
        }
    }
}
