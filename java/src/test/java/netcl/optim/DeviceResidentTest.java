package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Optimizers over device-resident parameters ({@link DeviceTensor}s on a {@link DeviceContext}):
 * the same bits as host parameters on the host path, blocking or enqueued, with nothing staged;
 * zeroGrad on the device; and closed, overlapping or mismatched tensors refused before anything
 * changes.
 */
class DeviceResidentTest {
    private static final int[] SIZES = {300, 41, 1000};
    private static final int GAP = 3;
    private static final int STEPS = 4;

    private DeviceContext context;
    private Arena arena;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void open() {
        context = DeviceContext.create();
        arena = Arena.ofConfined();
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        context.close();
        arena.close();
    }

    private <T extends AutoCloseable> T closeLater(T resource) {
        closing.add(resource);
        return resource;
    }

    /** Parameters 0 and 1 as slices of one buffer (a gap between them), parameter 2 on its own. */
    private List<Parameter> deviceParameters() {
        DeviceTensor data = closeLater(DeviceTensor.allocate(context, SIZES[0] + GAP + SIZES[1]));
        DeviceTensor grads = closeLater(DeviceTensor.allocate(context, SIZES[0] + GAP + SIZES[1]));
        DeviceTensor third = closeLater(DeviceTensor.allocate(context, SIZES[2]));
        DeviceTensor thirdGrad = closeLater(DeviceTensor.allocate(context, SIZES[2]));
        List<Parameter> params = List.of(
                Parameter.wrap(closeLater(data.slice(0, SIZES[0])), closeLater(grads.slice(0, SIZES[0]))),
                Parameter.wrap(closeLater(data.slice(SIZES[0] + GAP, SIZES[1])),
                        closeLater(grads.slice(SIZES[0] + GAP, SIZES[1]))),
                Parameter.wrap(third, thirdGrad));
        for (int i = 0; i < params.size(); i++) {
            params.get(i).deviceData().copyFrom(TestTensors.random(arena, i, SIZES[i]));
        }
        return params;
    }

    private List<Parameter> hostParameters() {
        List<Parameter> params = new ArrayList<>();
        for (int i = 0; i < SIZES.length; i++) {
            params.add(Parameter.wrap(TestTensors.random(arena, i, SIZES[i]), Tensors.allocate(arena, SIZES[i])));
        }
        return params;
    }

    private static float[] gradient(int step, int i) {
        return TestTensors.random(1000 + 10L * step + i, SIZES[i]);
    }

    private void setGradients(List<Parameter> device, List<Parameter> host, int step) {
        for (int i = 0; i < SIZES.length; i++) {
            TestTensors.set(host.get(i).grad(), gradient(step, i));
            device.get(i).deviceGrad().copyFrom(host.get(i).grad());
        }
    }

    /** Group 0: parameters 0 and 1, plain; group 1: parameter 2 with every option. */
    private static RMSProp build(RMSProp.Builder builder, List<Parameter> params) {
        RMSProp opt = builder.lr(1e-2).build(params.subList(0, 2));
        opt.addParamGroup(ParamGroup.of(params.subList(2, 3)).momentum(0.9).centered(true).maximize(true)
                .weightDecay(1e-2).alpha(0.9));
        return opt;
    }

    private static void assertSame(List<Parameter> device, RMSProp deviceOpt, List<Parameter> host, RMSProp hostOpt) {
        for (int i = 0; i < SIZES.length; i++) {
            assertArrayEquals(TestTensors.toArray(host.get(i).data()), device.get(i).deviceData().toArray(),
                    "parameter " + i);
            ParamState a = deviceOpt.stateDict().state().get(i);
            ParamState b = hostOpt.stateDict().state().get(i);
            assertEquals(b.step(), a.step());
            assertArrayEquals(b.squareAvg(), a.squareAvg());
            assertArrayEquals(b.momentumBuffer(), a.momentumBuffer());
            assertArrayEquals(b.gradAvg(), a.gradAvg());
        }
    }

    @Test
    void deviceParametersStepLikeHostParameters() {
        List<Parameter> device = deviceParameters();
        List<Parameter> host = hostParameters();
        try (RMSProp deviceOpt = build(RMSProp.builder().context(context), device);
             RMSProp hostOpt = build(RMSProp.builder().path(StepPath.HOST), host)) {
            for (int step = 0; step < STEPS; step++) {
                setGradients(device, host, step);
                deviceOpt.step();
                hostOpt.step();
            }
            assertEquals(0, deviceOpt.stagedBytes(), "device-resident tensors are never staged");
            assertEquals(2, deviceOpt.lastLaunchCount(), "one launch per group: slices share one");
            assertEquals(StepPath.KERNEL, deviceOpt.lastPath());
            assertSame(device, deviceOpt, host, hostOpt);
        }
    }

    /**
     * Loss scaling and clipping over device-resident parameters (the statistics from the device
     * kernel) against the same over host parameters: an inf and a NaN gradient skip their steps
     * and back the scale off, L2 and inf norms clip every step. The norms are equal as float32:
     * the two sums of squares add the same double terms in different orders (within n * 2^-53
     * of each other), which rounds to another float32 only next to a rounding boundary, and these
     * fixed gradients are not; everything after them then has the same bits.
     */
    @Test
    void lossScalingAndClippingLikeHostParameters() {
        List<Parameter> device = deviceParameters();
        List<Parameter> host = hostParameters();
        GradScaler deviceScaler = GradScaler.builder().initScale(1024).growthInterval(2).build();
        GradScaler hostScaler = GradScaler.builder().initScale(1024).growthInterval(2).build();
        try (RMSProp deviceOpt = build(RMSProp.builder().context(context), device);
             RMSProp hostOpt = build(RMSProp.builder().path(StepPath.HOST), host)) {
            for (int step = 0; step < 6; step++) {
                setGradients(device, host, step);
                if (step == 2 || step == 4) {
                    float[] g = gradient(step, 1);
                    g[7] = step == 2 ? Float.NEGATIVE_INFINITY : Float.NaN;
                    TestTensors.set(host.get(1).grad(), g);
                    device.get(1).deviceGrad().copyFrom(host.get(1).grad());
                }
                double normType = step % 2 == 0 ? 2.0 : Double.POSITIVE_INFINITY;
                deviceScaler.unscale(deviceOpt);
                hostScaler.unscale(hostOpt);
                double hostNorm = hostOpt.clipGradNorm(1e-3, normType);
                assertEquals(hostNorm, deviceOpt.clipGradNorm(1e-3, normType), 0.0, "step " + step + ": norm");
                boolean stepped = hostScaler.step(hostOpt);
                assertEquals(step != 2 && step != 4, stepped, "step " + step);
                assertEquals(stepped, deviceScaler.step(deviceOpt), "step " + step);
                hostScaler.update();
                deviceScaler.update();
                assertEquals(hostScaler.getScale(), deviceScaler.getScale(), "step " + step + ": scale");
                assertSame(device, deviceOpt, host, hostOpt);
            }
            assertEquals(4, deviceOpt.stateDict().state().get(0).step(), "two of six steps skipped");
        }
    }

    /**
     * GradScaler.step without unscale checks device gradients itself; clipGradNorm after unscale
     * reuses unscale's statistics while no gradient changed through netcl, as on the host: a
     * device write in between is not seen until the gradient is set again.
     */
    @Test
    void deviceGradientStatisticsAreReusedLikeHostOnes() {
        DeviceTensor data = closeLater(DeviceTensor.allocate(context, 2));
        DeviceTensor grad = closeLater(DeviceTensor.allocate(context, 2));
        Parameter p = Parameter.wrap(data, grad);
        GradScaler scaler = GradScaler.builder().initScale(8).build();
        try (RMSProp opt = RMSProp.builder().context(context).build(List.of(p))) {
            grad.copyFrom(TestTensors.of(arena, new float[] {24, Float.POSITIVE_INFINITY}));
            assertTrue(!scaler.step(opt), "an inf device gradient skips the step");
            assertArrayEquals(new float[] {0, 0}, data.toArray(), "nothing stepped");
            scaler.update();  // scale 4

            grad.copyFrom(TestTensors.of(arena, new float[] {12, 16}));  // (3, 4) scaled by 4
            scaler.unscale(opt);
            grad.copyFrom(TestTensors.of(arena, new float[] {0, 4}));  // written directly: not seen
            assertEquals(5.0, opt.clipGradNorm(100), 0.0, "the norm unscale's pass found");
            assertTrue(scaler.step(opt));
            scaler.update();

            scaler.unscale(opt);
            grad.copyFrom(TestTensors.of(arena, new float[] {0, 8}));
            p.deviceGrad(grad);  // set again: seen
            assertEquals(2.0, opt.clipGradNorm(100), 0.0, "a device gradient set again");
            assertTrue(scaler.step(opt));
        }
    }

    /** A closed gradient is refused by unscale and clipGradNorm before any pass: nothing changed. */
    @Test
    void closedTensorsAreRefusedByUnscaleAndClipping() {
        List<Parameter> device = deviceParameters();
        GradScaler scaler = GradScaler.builder().build();
        try (RMSProp opt = build(RMSProp.builder().context(context), device)) {
            setGradients(device, hostParameters(), 0);
            opt.step();
            float[] data = device.get(0).deviceData().toArray();
            float[] squareAvg = opt.stateDict().state().get(0).squareAvg();
            device.get(2).deviceGrad().close();
            for (int attempt = 0; attempt < 2; attempt++) {  // the second: the first left no trace
                expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed",
                        () -> scaler.unscale(opt));
                expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed",
                        () -> opt.clipGradNorm(1.0));
                expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed",
                        () -> scaler.step(opt));
            }
            assertArrayEquals(data, device.get(0).deviceData().toArray(), "the parameter did not change");
            assertArrayEquals(gradient(0, 0), device.get(0).deviceGrad().toArray(), "nor its gradient");
            assertEquals(1, opt.stateDict().state().get(0).step(), "no step was counted");
            assertArrayEquals(squareAvg, opt.stateDict().state().get(0).squareAvg());
            expect(IllegalStateException.class, "without a step()", scaler::update);
        }
    }

    @Test
    void enqueuedStepsMatchBlockingSteps() {
        List<Parameter> device = deviceParameters();
        List<Parameter> host = hostParameters();
        try (RMSProp deviceOpt = build(RMSProp.builder().context(context), device);
             RMSProp hostOpt = build(RMSProp.builder().path(StepPath.HOST), host)) {
            DeviceEvent previous = null;
            for (int step = 0; step < STEPS; step++) {
                setGradients(device, host, step);  // copies on the context's queue follow the last step
                DeviceEvent done = previous == null ? deviceOpt.enqueueStep() : deviceOpt.enqueueStep(previous.handle());
                if (previous != null) {
                    previous.close();
                }
                previous = done;
                hostOpt.step();
            }
            previous.await();
            previous.close();
            expectClosedEvent(previous);
            assertSame(device, deviceOpt, host, hostOpt);
        }
    }

    private static void expectClosedEvent(DeviceEvent event) {
        expect(IllegalStateException.class, "the DeviceEvent is closed", event::await);
        expect(IllegalStateException.class, "the DeviceEvent is closed", event::handle);
    }

    @Test
    void hostAndDeviceParametersInOneOptimizer() {
        List<Parameter> device = deviceParameters();
        List<Parameter> host = hostParameters();
        List<Parameter> reference = hostParameters();
        List<Parameter> mixed = List.of(device.get(0), host.get(1), device.get(2));
        try (RMSProp mixedOpt = build(RMSProp.builder().context(context), mixed);
             RMSProp referenceOpt = build(RMSProp.builder().path(StepPath.HOST), reference)) {
            for (int step = 0; step < STEPS; step++) {
                setGradients(device, reference, step);
                TestTensors.set(host.get(1).grad(), gradient(step, 1));
                mixedOpt.step();
                referenceOpt.step();
            }
            assertArrayEquals(TestTensors.toArray(reference.get(0).data()), device.get(0).deviceData().toArray());
            assertArrayEquals(TestTensors.toArray(reference.get(1).data()), TestTensors.toArray(host.get(1).data()));
            assertArrayEquals(TestTensors.toArray(reference.get(2).data()), device.get(2).deviceData().toArray());
            expect(IllegalStateException.class, "parameter 1 is in host memory: use step()", mixedOpt::enqueueStep);

            // Without its gradient the host parameter sits out an enqueued step; the next step()
            // steps it with its gradient again (the step arrays had no gradient for it meanwhile).
            MemorySegment hostGrad = host.get(1).grad();
            host.get(1).grad(null);
            mixedOpt.enqueueStep().close();
            host.get(1).grad(hostGrad);
            TestTensors.set(hostGrad, gradient(STEPS, 1));
            TestTensors.set(reference.get(1).grad(), gradient(STEPS, 1));
            reference.get(0).grad(null);
            reference.get(2).grad(null);
            mixedOpt.step();
            referenceOpt.step();
            assertArrayEquals(TestTensors.toArray(reference.get(1).data()), TestTensors.toArray(host.get(1).data()));
        }
    }

    @Test
    void zeroGradOnTheDevice() {
        List<Parameter> device = deviceParameters();
        try (RMSProp opt = build(RMSProp.builder().context(context), device)) {
            setGradients(device, hostParameters(), 0);
            opt.step();
            opt.zeroGrad();
            for (int i = 0; i < SIZES.length; i++) {
                assertArrayEquals(new float[SIZES[i]], device.get(i).deviceGrad().toArray());
            }
            float[] before = device.get(0).deviceData().toArray();
            opt.zeroGrad(true);
            assertNull(device.get(0).deviceGrad());
            opt.step();  // no gradients: nothing moves
            assertArrayEquals(before, device.get(0).deviceData().toArray());
            assertEquals(1, opt.stateDict().state().get(0).step());
        }
    }

    private static void expect(Class<? extends Throwable> type, String message, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(message), "'" + e.getMessage() + "' lacks '" + message + "'");
    }

    @Test
    void closedTensorsAreRefusedAtTheStepAndNothingChanges() {
        List<Parameter> device = deviceParameters();
        try (RMSProp opt = build(RMSProp.builder().context(context), device)) {
            setGradients(device, hostParameters(), 0);
            opt.step();
            float[] data = device.get(2).deviceData().toArray();
            float[] squareAvg = opt.stateDict().state().get(2).squareAvg();
            device.get(2).deviceGrad().close();
            expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed", opt::step);
            expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed", opt::enqueueStep);
            expect(IllegalArgumentException.class, "parameter 2: its grad DeviceTensor is closed", opt::zeroGrad);
            assertArrayEquals(data, device.get(2).deviceData().toArray(), "the parameter did not change");
            assertArrayEquals(gradient(0, 0), device.get(0).deviceGrad().toArray(), "the refused zeroGrad changed nothing");
            device.get(2).deviceData().close();
            expect(IllegalArgumentException.class, "parameter 2: its data DeviceTensor is closed", opt::step);
            assertEquals(1, opt.stateDict().state().get(2).step(), "no step was counted");
            assertArrayEquals(squareAvg, opt.stateDict().state().get(2).squareAvg());
            assertEquals(1, opt.stateDict().state().get(0).step(), "the other parameters did not step either");
        }
    }

    @Test
    void overlappingAndMismatchedTensorsAreRefused() {
        DeviceTensor buffer = closeLater(DeviceTensor.allocate(context, 100));
        DeviceTensor a = closeLater(buffer.slice(0, 50));
        DeviceTensor b = closeLater(buffer.slice(40, 50));
        DeviceTensor c = closeLater(buffer.slice(50, 50));
        DeviceTensor grads = closeLater(DeviceTensor.allocate(context, 100));
        expect(IllegalArgumentException.class, "two parameters share device memory",
                () -> RMSProp.builder().context(context).build(List.of(Parameter.wrap(a, null), Parameter.wrap(b, null))));
        expect(IllegalArgumentException.class, "grad overlaps data", () -> Parameter.wrap(a, b));
        expect(IllegalArgumentException.class, "grad has 100 floats but data has 50", () -> Parameter.wrap(a, grads));
        expect(IllegalArgumentException.class, "data is null", () -> Parameter.wrap((DeviceTensor) null, null));
        Parameter device = Parameter.wrap(a, c);
        expect(IllegalArgumentException.class, "takes its gradient as a DeviceTensor",
                () -> device.grad(Tensors.allocate(arena, 50)));
        Parameter host = Parameter.wrap(Tensors.allocate(arena, 50), null);
        expect(IllegalArgumentException.class, "a host parameter takes its gradient as a MemorySegment",
                () -> host.deviceGrad(c));
        expect(IllegalArgumentException.class, "waitFor[0] is null", () -> {
            try (RMSProp opt = RMSProp.builder().context(context).build(List.of(device))) {
                opt.enqueueStep(MemorySegment.NULL);
            }
        });
        assertArrayEquals(new float[100], buffer.toArray(), "nothing changed");
    }

    @Test
    void tensorsOfAnotherContextOnTheSameDeviceWork() {
        // netcl's contexts on one device share their OpenCL context: tensors move freely between them.
        List<Parameter> device = deviceParameters();
        List<Parameter> host = hostParameters();
        try (DeviceContext other = DeviceContext.create(String.valueOf(context.device().index()));
             RMSProp deviceOpt = build(RMSProp.builder().context(other), device);
             RMSProp hostOpt = build(RMSProp.builder().path(StepPath.HOST), host)) {
            setGradients(device, host, 0);
            deviceOpt.step();
            hostOpt.step();
            assertSame(device, deviceOpt, host, hostOpt);
        }
    }
}
