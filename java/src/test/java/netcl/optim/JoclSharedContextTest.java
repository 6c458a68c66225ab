package netcl.optim;

import static org.jocl.CL.CL_COMPLETE;
import static org.jocl.CL.CL_CONTEXT_PLATFORM;
import static org.jocl.CL.CL_DEVICE_TYPE_ALL;
import static org.jocl.CL.CL_MEM_READ_WRITE;
import static org.jocl.CL.CL_MEM_REFERENCE_COUNT;
import static org.jocl.CL.CL_TRUE;
import static org.jocl.CL.clCreateBuffer;
import static org.jocl.CL.clCreateCommandQueue;
import static org.jocl.CL.clCreateContext;
import static org.jocl.CL.clCreateUserEvent;
import static org.jocl.CL.clEnqueueReadBuffer;
import static org.jocl.CL.clEnqueueWriteBuffer;
import static org.jocl.CL.clGetDeviceIDs;
import static org.jocl.CL.clGetMemObjectInfo;
import static org.jocl.CL.clGetPlatformIDs;
import static org.jocl.CL.clReleaseCommandQueue;
import static org.jocl.CL.clReleaseContext;
import static org.jocl.CL.clReleaseEvent;
import static org.jocl.CL.clReleaseMemObject;
import static org.jocl.CL.clSetUserEventStatus;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.jocl.CL;
import org.jocl.NativePointerObject;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_event;
import org.jocl.cl_mem;
import org.jocl.cl_platform_id;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * netcl on another OpenCL library's context, queue and buffers (JOCL, from Maven Central): JOCL
 * creates them and writes the gradients, netcl steps the buffers in place, JOCL reads them back.
 * The bits are the host path's, nothing is staged, the enqueued step waits for JOCL's event,
 * netcl's references on JOCL's buffers come and go with its tensors and optimizers, and every
 * bad handle is refused before anything changes.
 */
class JoclSharedContextTest {
    private static final int N1 = 1000;
    private static final int N2 = 37;
    private static final int GAP = 5;  // floats between the two parameters in each buffer
    private static final int TOTAL = N1 + GAP + N2;
    private static final int STEPS = 4;

    private cl_device_id device;
    private cl_context context;
    private cl_command_queue queue;
    private cl_mem params;
    private cl_mem grads;

    @BeforeEach
    void createOpenClObjects() {
        CL.setExceptionsEnabled(true);
        cl_platform_id[] platforms = new cl_platform_id[1];
        clGetPlatformIDs(1, platforms, null);
        cl_device_id[] devices = new cl_device_id[1];
        clGetDeviceIDs(platforms[0], CL_DEVICE_TYPE_ALL, 1, devices, null);
        device = devices[0];
        cl_context_properties properties = new cl_context_properties();
        properties.addProperty(CL_CONTEXT_PLATFORM, platforms[0]);
        context = clCreateContext(properties, 1, devices, null, null, null);
        queue = clCreateCommandQueue(context, device, 0, null);
        params = clCreateBuffer(context, CL_MEM_READ_WRITE, (long) TOTAL * Float.BYTES, null, null);
        grads = clCreateBuffer(context, CL_MEM_READ_WRITE, (long) TOTAL * Float.BYTES, null, null);
    }

    @AfterEach
    void releaseOpenClObjects() {
        // Every tensor and optimizer of the test is closed: netcl holds no reference any more.
        assertEquals(1, references(params), "references left on the parameter buffer");
        assertEquals(1, references(grads), "references left on the gradient buffer");
        clReleaseMemObject(params);
        clReleaseMemObject(grads);
        clReleaseCommandQueue(queue);
        clReleaseContext(context);
    }

    private static MemorySegment handle(NativePointerObject object) {
        return MemorySegment.ofAddress(object.getNativePointer());
    }

    private void write(cl_command_queue on, cl_mem buffer, int offset, float[] values) {
        clEnqueueWriteBuffer(on, buffer, CL_TRUE, (long) offset * Float.BYTES, (long) values.length * Float.BYTES,
                Pointer.to(values), 0, null, null);
    }

    private float[] read(cl_command_queue on, cl_mem buffer, int offset, int n) {
        float[] out = new float[n];
        clEnqueueReadBuffer(on, buffer, CL_TRUE, (long) offset * Float.BYTES, (long) n * Float.BYTES,
                Pointer.to(out), 0, null, null);
        return out;
    }

    private static int references(cl_mem buffer) {
        int[] count = new int[1];
        clGetMemObjectInfo(buffer, CL_MEM_REFERENCE_COUNT, Sizeof.cl_uint, Pointer.to(count), null);
        return count[0];
    }

    private static float[] grad(int step, int k, int n) {
        return TestTensors.random(100 + 10L * step + k, n);
    }

    /** The same two parameters in host memory, stepped on the host path: the expected bits. */
    private static final class Reference implements AutoCloseable {
        final Arena arena = Arena.ofConfined();
        final MemorySegment[] data = {TestTensors.random(arena, 1, N1), TestTensors.random(arena, 2, N2)};
        final MemorySegment[] grads = {Tensors.allocate(arena, N1), Tensors.allocate(arena, N2)};
        final RMSProp opt = options(RMSProp.builder()).path(StepPath.HOST)
                .build(List.of(Parameter.wrap(data[0], grads[0]), Parameter.wrap(data[1], grads[1])));

        void step(int step) {
            TestTensors.set(grads[0], grad(step, 0, N1));
            TestTensors.set(grads[1], grad(step, 1, N2));
            opt.step();
        }

        @Override
        public void close() {
            opt.close();
            arena.close();
        }
    }

    private static RMSProp.Builder options(RMSProp.Builder builder) {
        return builder.lr(1e-2).momentum(0.9).centered(true).weightDecay(1e-3);
    }

    private void writeInitialData() {
        write(queue, params, 0, TestTensors.random(1, N1));
        write(queue, params, N1 + GAP, TestTensors.random(2, N2));
    }

    private void writeGrads(int step) {
        write(queue, grads, 0, grad(step, 0, N1));
        write(queue, grads, N1 + GAP, grad(step, 1, N2));
    }

    private List<Parameter> wrapParameters(List<DeviceTensor> opened) {
        try (DeviceTensor w = DeviceTensor.wrap(handle(params), 0, TOTAL);
             DeviceTensor g = DeviceTensor.wrap(handle(grads), 0, TOTAL)) {
            // The slices keep the buffers referenced after the whole tensors are closed.
            List<DeviceTensor> slices = List.of(w.slice(0, N1), g.slice(0, N1), w.slice(N1 + GAP, N2),
                    g.slice(N1 + GAP, N2));
            opened.addAll(slices);
            return List.of(Parameter.wrap(slices.get(0), slices.get(1)), Parameter.wrap(slices.get(2), slices.get(3)));
        }
    }

    private void assertSameAsReference(Reference reference, RMSProp opt) {
        assertArrayEquals(TestTensors.toArray(reference.data[0]), read(queue, params, 0, N1));
        assertArrayEquals(TestTensors.toArray(reference.data[1]), read(queue, params, N1 + GAP, N2));
        StateDict got = opt.stateDict();
        StateDict want = reference.opt.stateDict();
        for (int i = 0; i < 2; i++) {
            ParamState a = got.state().get(i);
            ParamState b = want.state().get(i);
            assertEquals(b.step(), a.step());
            assertArrayEquals(b.squareAvg(), a.squareAvg());
            assertArrayEquals(b.momentumBuffer(), a.momentumBuffer());
            assertArrayEquals(b.gradAvg(), a.gradAvg());
        }
    }

    @Test
    void netclStepsTheCallersBuffersInPlace() {
        writeInitialData();
        List<DeviceTensor> opened = new ArrayList<>();
        try (Reference reference = new Reference();
             RMSProp opt = options(RMSProp.builder()).openclContext(handle(context), handle(queue))
                     .build(wrapParameters(opened))) {
            for (int step = 0; step < STEPS; step++) {
                writeGrads(step);  // JOCL writes, on the queue netcl then steps on
                opt.step();
                reference.step(step);
            }
            assertEquals(0, opt.stagedBytes(), "device-resident tensors are never staged");
            assertEquals(1, opt.lastLaunchCount(), "slices of one buffer: one launch");
            assertEquals(StepPath.KERNEL, opt.lastPath());
            assertSameAsReference(reference, opt);
        } finally {
            opened.forEach(DeviceTensor::close);
        }
    }

    @Test
    void anEnqueuedStepWaitsForTheCallersEvent() {
        writeInitialData();
        writeGrads(0);
        List<DeviceTensor> opened = new ArrayList<>();
        cl_command_queue other = clCreateCommandQueue(context, device, 0, null);
        cl_event gate = clCreateUserEvent(context, null);
        try (Reference reference = new Reference();
             RMSProp opt = options(RMSProp.builder()).openclContext(handle(context), handle(queue))
                     .build(wrapParameters(opened))) {
            try (DeviceEvent done = opt.enqueueStep(handle(gate))) {
                // Nothing runs before the gate opens: another queue still reads the initial values.
                assertArrayEquals(TestTensors.random(1, N1), read(other, params, 0, N1));
                clSetUserEventStatus(gate, CL_COMPLETE);
                done.await();
            }
            reference.step(0);
            assertArrayEquals(TestTensors.toArray(reference.data[0]), read(other, params, 0, N1));
            // Back to back: JOCL's writes of the next gradients follow each step on the queue.
            for (int step = 1; step < STEPS; step++) {
                writeGrads(step);
                opt.enqueueStep().close();
                reference.step(step);
            }
            assertSameAsReference(reference, opt);  // JOCL's blocking reads follow the last step
        } finally {
            opened.forEach(DeviceTensor::close);
            clReleaseEvent(gate);
            clReleaseCommandQueue(other);
        }
    }

    @Test
    void netclHoldsItsOwnReferencesAndReturnsThem() {
        assertEquals(1, references(params));
        DeviceTensor w = DeviceTensor.wrap(handle(params), 0, TOTAL);
        DeviceTensor g = DeviceTensor.wrap(handle(grads), 0, TOTAL);
        assertEquals(2, references(params), "a wrapped buffer is retained");
        DeviceTensor slice = w.slice(0, N1);
        assertEquals(2, references(params), "slices share their tensor's reference");
        DeviceTensor gradSlice = g.slice(0, N1);
        RMSProp opt = RMSProp.builder().openclContext(handle(context), handle(queue))
                .build(List.of(Parameter.wrap(slice, gradSlice)));
        assertEquals(3, references(params), "the optimizer holds the data buffer");
        opt.step();
        assertEquals(4, references(grads), "... and, once stepped, the gradient's; the step's plan one more");
        assertEquals(4, references(params), "the step's plan holds the buffers it launches on");
        w.close();
        assertEquals(4, references(params), "an open slice keeps the buffer");
        slice.close();
        assertEquals(3, references(params), "the optimizer's references remain");
        assertThrows(IllegalArgumentException.class, opt::step, "a closed parameter is refused");
        opt.close();
        g.close();
        assertEquals(2, references(grads), "the open slice keeps the gradient buffer");
        gradSlice.close();
        assertEquals(1, references(params));
        assertEquals(1, references(grads));
    }

    private static void expect(Class<? extends Throwable> type, String message, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(message), "'" + e.getMessage() + "' lacks '" + message + "'");
    }

    @Test
    void badHandlesAreRefusedBeforeAnythingChanges() {
        writeInitialData();
        cl_context otherContext = clCreateContext(null, 1, new cl_device_id[] {device}, null, null, null);
        cl_command_queue otherQueue = clCreateCommandQueue(otherContext, device, 0, null);
        cl_mem foreign = clCreateBuffer(otherContext, CL_MEM_READ_WRITE, (long) TOTAL * Float.BYTES, null, null);
        try (DeviceTensor w = DeviceTensor.wrap(handle(params), 0, N1);
             DeviceTensor g = DeviceTensor.wrap(handle(grads), 0, N1);
             DeviceTensor tooLong = DeviceTensor.wrap(handle(params), 10, TOTAL);
             DeviceTensor fromOther = DeviceTensor.wrap(handle(foreign), 0, N1)) {
            expect(IllegalArgumentException.class, "clContext is null",
                    () -> RMSProp.builder().openclContext(MemorySegment.NULL, handle(queue)));
            expect(IllegalArgumentException.class, "clQueue is null",
                    () -> RMSProp.builder().openclContext(handle(context), null));
            expect(IllegalArgumentException.class, "clQueue is a heap segment",
                    () -> DeviceContext.fromOpenCL(handle(context), MemorySegment.ofArray(new byte[8])));
            expect(IllegalArgumentException.class, "cl_queue belongs to another context",
                    () -> RMSProp.builder().openclContext(handle(context), handle(otherQueue))
                            .build(List.of(Parameter.wrap(w, g))));
            expect(IllegalArgumentException.class, "clMem is null", () -> DeviceTensor.wrap(MemorySegment.NULL, 0, 1));
            expect(IllegalArgumentException.class, "offset must not be negative",
                    () -> DeviceTensor.wrap(handle(params), -1, 1));
            expect(IllegalArgumentException.class, "numel must be positive", () -> DeviceTensor.wrap(handle(params), 0, 0));
            RMSProp.Builder shared = RMSProp.builder().openclContext(handle(context), handle(queue));
            expect(IllegalArgumentException.class,
                    "parameter 0: data: its buffer holds 1042 floats, too few for offset 10 + numel 1042",
                    () -> shared.build(List.of(Parameter.wrap(tooLong, null))));
            expect(IllegalArgumentException.class, "parameter 0: data: buffer belongs to another cl_context",
                    () -> shared.build(List.of(Parameter.wrap(fromOther, null))));
            expect(IllegalArgumentException.class, "parameter 0: grad: buffer belongs to another cl_context",
                    () -> shared.build(List.of(Parameter.wrap(w, fromOther))));
            expect(IllegalArgumentException.class, "choose the device once",
                    () -> RMSProp.builder().device("0").openclContext(handle(context), handle(queue))
                            .build(List.of(Parameter.wrap(w, g))));
            assertArrayEquals(TestTensors.random(1, N1), read(queue, params, 0, N1), "nothing changed");
            assertEquals(3, references(params), "refused optimizers hold no reference (JOCL's, w's, tooLong's)");

            // A gradient set after the optimizer was built is checked at the step.
            writeGrads(0);
            try (RMSProp opt = shared.build(List.of(Parameter.wrap(w, g)))) {
                opt.step();
                float[] once = read(queue, params, 0, N1);
                StateDict state = opt.stateDict();
                opt.paramGroups().get(0).params().get(0).deviceGrad(fromOther);
                expect(IllegalArgumentException.class, "parameter 0: grad: buffer belongs to another cl_context",
                        opt::step);
                expect(IllegalStateException.class, "needs device-resident parameters", () -> {
                    try (Arena arena = Arena.ofConfined()) {
                        opt.addParamGroup(ParamGroup.of(List.of(Parameter.wrap(Tensors.allocate(arena, 4),
                                Tensors.allocate(arena, 4)))));
                        opt.enqueueStep();
                    }
                });
                assertArrayEquals(once, read(queue, params, 0, N1), "nothing changed");
                assertEquals(state.state().get(0).step(), opt.stateDict().state().get(0).step());
                assertArrayEquals(state.state().get(0).squareAvg(), opt.stateDict().state().get(0).squareAvg());
            }
        } finally {
            clReleaseMemObject(foreign);
            clReleaseCommandQueue(otherQueue);
            clReleaseContext(otherContext);
        }
    }
}
