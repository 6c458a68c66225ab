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
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The mixed-precision API's behaviour worked out by hand, and every bad input: the exception,
 * its message, and that nothing changed (trajectories against PyTorch: AmpTrajectoryTest).
 */
class MixedPrecisionTest {

    private static void expect(Class<? extends Throwable> type, String message, Executable call) {
        Throwable e = assertThrows(type, call);
        assertTrue(e.getMessage().contains(message), "'" + e.getMessage() + "' lacks '" + message + "'");
    }

    /** float32 to bfloat16, to nearest even (exact for the values set here). */
    private static short bf16(float value) {
        int bits = Float.floatToIntBits(value);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    @Test
    void clipGradNormReturnsTheNormAndScalesTheStep() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = TestTensors.of(arena, new float[] {0, 0}), g = TestTensors.of(arena, new float[] {3, 4});
            MemorySegment w2 = TestTensors.of(arena, new float[] {0, 0}), g2 = TestTensors.of(arena, new float[] {0.3f, 0.4f});
            try (RMSProp clipped = RMSProp.builder().build(List.of(Parameter.wrap(w, g)));
                 RMSProp reference = RMSProp.builder().build(List.of(Parameter.wrap(w2, g2)))) {
                assertEquals(5.0, clipped.clipGradNorm(0.5), 0.0, "L2 norm of (3, 4)");
                expect(IllegalStateException.class, "already called", () -> clipped.clipGradNorm(0.5));
                clipped.step();
                reference.step();  // (3, 4) * (0.5 / (5 + 1e-6)) is (0.3, 0.4) to float32 rounding
                assertArrayEquals(TestTensors.toArray(w2), TestTensors.toArray(w), 1e-6f);
                assertArrayEquals(new float[] {3, 4}, TestTensors.toArray(g), "the gradient memory is untouched");
                assertEquals(4.0, clipped.clipGradNorm(100, Double.POSITIVE_INFINITY), 0.0, "largest magnitude");
                float[] before = TestTensors.toArray(w);
                clipped.step();  // coefficient clamped to 1: an ordinary step
                assertFalse(java.util.Arrays.equals(before, TestTensors.toArray(w)));
            }
        }
    }

    /**
     * clipGradNorm after GradScaler.unscale takes the norm from unscale's pass: a write into the
     * gradient memory in between is not seen (the documented cost of saving the pass), while
     * every change made through netcl is: a gradient set (again), zeroGrad of this or another
     * optimizer over the parameter, an added parameter, a step.
     */
    @Test
    void clipAfterUnscaleReusesTheCheckPassUntilAGradientChangesThroughNetcl() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = TestTensors.of(arena, new float[] {24, 32});  // (3, 4) scaled by 8
            Parameter p = Parameter.wrap(TestTensors.of(arena, new float[] {0, 0}), g);
            GradScaler scaler = GradScaler.builder().initScale(8).build();
            try (RMSProp opt = RMSProp.builder().build(List.of(p));
                 RMSProp other = RMSProp.builder().build(List.of(p))) {
                scaler.unscale(opt);
                TestTensors.set(g, new float[] {0, 8});  // written directly: not seen
                assertEquals(5.0, opt.clipGradNorm(100), 0.0, "the norm unscale's pass found");
                nextStep(scaler, opt);

                scaler.unscale(opt);
                TestTensors.set(g, new float[] {0, 16});
                p.grad(g);  // written directly, then set again: seen
                assertEquals(2.0, opt.clipGradNorm(100), 0.0, "a gradient set again");
                nextStep(scaler, opt);

                scaler.unscale(opt);
                p.grad(TestTensors.of(arena, new float[] {48, 64}));
                assertEquals(10.0, opt.clipGradNorm(100), 0.0, "a new gradient segment");
                nextStep(scaler, opt);

                scaler.unscale(opt);
                opt.zeroGrad();
                assertEquals(0.0, opt.clipGradNorm(100), 0.0, "zeroGrad");
                nextStep(scaler, opt);

                p.grad(g);
                TestTensors.set(g, new float[] {24, 32});
                scaler.unscale(opt);
                other.zeroGrad();
                assertEquals(0.0, opt.clipGradNorm(100), 0.0, "zeroGrad of another optimizer over the parameter");
                nextStep(scaler, opt);

                TestTensors.set(g, new float[] {24, 32});
                scaler.unscale(opt);
                opt.addParamGroup(ParamGroup.of(List.of(Parameter.wrap(TestTensors.of(arena, new float[] {0}),
                        TestTensors.of(arena, new float[] {96})))));
                assertEquals(13.0, opt.clipGradNorm(100), 0.0, "an added parameter: (3, 4, 12)");
                nextStep(scaler, opt);

                scaler.unscale(opt);
                scaler.step(opt);
                scaler.update();
                assertEquals(13.0 * 8, opt.clipGradNorm(1e9), 1e-4, "after the step, its own pass (nothing unscaled)");
            }
        }
    }

    /** Steps and updates: the scaler and the optimizer are ready for the next unscale. */
    private static void nextStep(GradScaler scaler, RMSProp opt) {
        assertTrue(scaler.step(opt));
        scaler.update();
    }

    @Test
    void scalerSkipsNonFiniteStepsAndBacksOff() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = TestTensors.of(arena, new float[] {1, 2}), g = TestTensors.of(arena, new float[] {1, 1});
            GradScaler scaler = GradScaler.builder().initScale(8).growthInterval(2).build();
            try (RMSProp opt = RMSProp.builder().build(List.of(Parameter.wrap(w, g)))) {
                assertEquals(24.0, scaler.scale(3.0));
                g.setAtIndex(ValueLayout.JAVA_FLOAT, 1, Float.POSITIVE_INFINITY);
                float[] before = TestTensors.toArray(w);
                assertFalse(scaler.step(opt), "an inf gradient skips the step");
                assertArrayEquals(before, TestTensors.toArray(w));
                assertNull(opt.stateDict().state().get(0), "no state was created");
                scaler.update();
                assertEquals(4.0, scaler.getScale(), "backed off by 0.5");
                g.setAtIndex(ValueLayout.JAVA_FLOAT, 1, 4f);
                for (int i = 0; i < 2; i++) {
                    assertTrue(scaler.step(opt));
                    scaler.update();
                }
                assertEquals(8.0, scaler.getScale(), "grew by 2 after 2 clean steps");
                assertEquals(Map.of("scale", 8.0, "growth_factor", 2.0, "backoff_factor", 0.5, "growth_interval", 2,
                        "_growth_tracker", 0), scaler.stateDict());
                expect(IllegalStateException.class, "already been called", () -> {
                    scaler.unscale(opt);
                    scaler.unscale(opt);
                });
            }
        }
    }

    @Test
    void bf16ParametersKeepFloat32Masters() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = Tensors.allocate(arena, 2, DType.BF16), g = Tensors.allocate(arena, 2, DType.BF16);
            w.setAtIndex(ValueLayout.JAVA_SHORT, 0, bf16(1f));
            w.setAtIndex(ValueLayout.JAVA_SHORT, 1, bf16(-2f));
            g.setAtIndex(ValueLayout.JAVA_SHORT, 0, bf16(1f));
            g.setAtIndex(ValueLayout.JAVA_SHORT, 1, bf16(1f));
            try (RMSProp opt = RMSProp.builder().lr(1e-3).build(List.of(Parameter.wrap(w, g, DType.BF16)))) {
                opt.step();
                ParamState state = opt.stateDict().state().get(0);
                // v = 0.01, so the step is lr * 1 / (0.1 + 1e-8): masters 0.99, -2.01 in float32.
                float[] master = state.master();
                assertEquals(1f - 1e-3f / (0.1f + 1e-8f), master[0], 1e-6f);
                assertEquals(bf16(master[0]), w.getAtIndex(ValueLayout.JAVA_SHORT, 0), "rounded to nearest even");
                assertEquals(bf16(master[1]), w.getAtIndex(ValueLayout.JAVA_SHORT, 1), "rounded to nearest even");
                // The state dict round trip carries the master.
                StateDict sd = opt.stateDict();
                opt.step();
                opt.loadStateDict(sd);
                assertArrayEquals(master, opt.stateDict().state().get(0).master());
            }
        }
    }

    @Test
    void badInputsAreRefusedAndChangeNothing() {
        try (Arena arena = Arena.ofConfined()) {
            expect(IllegalArgumentException.class, "not a positive multiple of 2 (BF16)",
                    () -> Parameter.wrap(arena.allocate(5, 2), null, DType.BF16));
            expect(IllegalArgumentException.class, "not aligned to 2 bytes (FP16)",
                    () -> Parameter.wrap(arena.allocate(8, 4).asSlice(1, 4), null, DType.FP16));
            MemorySegment w = Tensors.allocate(arena, 4, DType.BF16);
            expect(IllegalArgumentException.class, "grad has 8 BF16 elements but data has 4",
                    () -> Parameter.wrap(w, Tensors.allocate(arena, 4, DType.FP32), DType.BF16));
            expect(IllegalArgumentException.class, "dtype is null", () -> Parameter.wrap(w, null, null));
            expect(IllegalArgumentException.class, "dtype is null", () -> Tensors.allocate(arena, 4, null));

            expect(IllegalArgumentException.class, "initScale", () -> GradScaler.builder().initScale(0));
            expect(IllegalArgumentException.class, "initScale", () -> GradScaler.builder().initScale(-1));
            expect(IllegalArgumentException.class, "initScale",
                    () -> GradScaler.builder().initScale(Double.POSITIVE_INFINITY));
            expect(IllegalArgumentException.class, "initScale", () -> GradScaler.builder().initScale(Double.NaN));
            expect(IllegalArgumentException.class, "growthFactor", () -> GradScaler.builder().growthFactor(1.0));
            expect(IllegalArgumentException.class, "growthFactor", () -> GradScaler.builder().growthFactor(Double.NaN));
            expect(IllegalArgumentException.class, "backoffFactor", () -> GradScaler.builder().backoffFactor(1.0));
            expect(IllegalArgumentException.class, "backoffFactor", () -> GradScaler.builder().backoffFactor(0));
            expect(IllegalArgumentException.class, "growthInterval", () -> GradScaler.builder().growthInterval(0));

            MemorySegment data = TestTensors.of(arena, new float[] {1, 2}), grad = TestTensors.of(arena, new float[] {1, 1});
            try (RMSProp opt = RMSProp.builder().build(List.of(Parameter.wrap(data, grad)))) {
                opt.step();
                StateDict good = opt.stateDict();
                float[] before = TestTensors.toArray(data);
                expect(IllegalArgumentException.class, "maxNorm", () -> opt.clipGradNorm(0));
                expect(IllegalArgumentException.class, "maxNorm", () -> opt.clipGradNorm(-1));
                expect(IllegalArgumentException.class, "maxNorm", () -> opt.clipGradNorm(Double.NaN));
                expect(IllegalArgumentException.class, "maxNorm", () -> opt.clipGradNorm(Double.POSITIVE_INFINITY));
                expect(IllegalArgumentException.class, "normType", () -> opt.clipGradNorm(1, 1.0));
                expect(IllegalArgumentException.class, "normType", () -> opt.clipGradNorm(1, Double.NaN));
                grad.setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                expect(IllegalStateException.class, "errorIfNonfinite", () -> opt.clipGradNorm(1, 2.0, true));
                grad.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 1f);
                ParamState s = good.state().get(0);
                expect(IllegalArgumentException.class, "master copy for an FP32 parameter", () -> opt.loadStateDict(
                        StateDict.of(Map.of(0, new ParamState(s.step(), s.squareAvg(), null, null, new float[2])))));
                expect(IllegalArgumentException.class, "master has 3 values", () -> opt.loadStateDict(
                        StateDict.of(Map.of(0, new ParamState(s.step(), s.squareAvg(), null, null, new float[3])))));
                assertArrayEquals(before, TestTensors.toArray(data));
                assertArrayEquals(s.squareAvg(), opt.stateDict().state().get(0).squareAvg());
                opt.step();  // nothing pending from the refused calls: an ordinary step
                try (RMSProp plain = RMSProp.builder().build(List.of(Parameter.wrap(
                        TestTensors.of(arena, before), TestTensors.of(arena, new float[] {1, 1}))))) {
                    plain.loadStateDict(good);
                    plain.step();
                    assertArrayEquals(TestTensors.toArray(plain.paramGroups().get(0).params().get(0).data()),
                            TestTensors.toArray(data));
                }
            }
        }
    }
}
