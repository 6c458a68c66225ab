package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * PyTorch 1.13's RMSprop trajectories replayed through the public API: every parameter after every
 * step and the final state must have PyTorch's exact bits. Covers all 16 option combinations, lr
 * changed every step through the live group, gradients set to null, odd sizes, and (special_*)
 * denormal, infinite, NaN and signed-zero gradients and parameters.
 *
 * <p>A NaN only has to meet a NaN: JUnit's {@code assertArrayEquals(float[], float[])} compares
 * {@link Float#floatToIntBits}, which maps every NaN to one pattern and keeps all other bits (signed
 * zeros and denormals included). That is the rule test_torch.c states and explains: the sign of a NaN
 * result is not fixed by IEEE 754, and with maximize PyTorch's NaNs and netcl's differ in it.
 */
class TorchTrajectoryTest {

    /** Every trajectory on each path (see {@link StepPath}): all must give PyTorch's bits. */
    static List<Arguments> trajectories() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        for (String name : TorchTrajectory.names()) {
            for (StepPath path : StepPath.values()) {
                cases.add(Arguments.of(name, path));
            }
        }
        return cases;
    }

    @ParameterizedTest
    @MethodSource("trajectories")
    void replaysBitForBit(String name, StepPath path) throws IOException {
        TorchTrajectory t = TorchTrajectory.load(name);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = TestTensors.of(arena, t.initial());
            MemorySegment grad = Tensors.allocate(arena, t.numel());
            Parameter p = Parameter.wrap(data, grad);
            try (RMSProp opt = RMSProp.builder().alpha(t.alpha()).eps(t.eps()).weightDecay(t.weightDecay())
                    .momentum(t.momentum()).centered(t.centered()).maximize(t.maximize()).path(path)
                    .build(List.of(p))) {
                for (int s = 0; s < t.steps().size(); s++) {
                    TorchTrajectory.Step step = t.steps().get(s);
                    feed(opt.paramGroups().get(0), p, grad, step);
                    opt.step();
                    assertArrayEquals(step.after(), TestTensors.toArray(data), name + " step " + (s + 1));
                }
                ParamState state = opt.stateDict().state().get(0);
                assertEquals(t.finalStep(), state.step());
                assertArrayEquals(t.squareAvg(), state.squareAvg(), "square_avg");
                assertArrayEquals(t.momentumBuffer(), state.momentumBuffer(), "momentum_buffer");
                assertArrayEquals(t.gradAvg(), state.gradAvg(), "grad_avg");
            }
        }
    }

    /** Sets the step's lr on the live group and its gradient (or none) on the parameter. */
    private static void feed(ParamGroup group, Parameter p, MemorySegment grad, TorchTrajectory.Step step) {
        group.lr(step.lr());
        if (step.grad() == null) {
            p.grad(null);
        } else {
            TestTensors.set(grad, step.grad());
            p.grad(grad);
        }
    }

    /**
     * Two trajectories with different hyperparameters as two groups of one optimizer, one group per
     * trajectory, their tensors slices of one buffer: each must follow its own PyTorch run.
     */
    @Test
    void twoGroupsWithDifferentHyperparameters() throws IOException {
        List<TorchTrajectory> pair = List.of(TorchTrajectory.load("v1011_n17.bin"), TorchTrajectory.load("v0101_n1023.bin"));
        assertTrue(pair.get(0).momentum() != pair.get(1).momentum() && pair.get(0).alpha() != pair.get(1).alpha());
        try (Arena arena = Arena.ofConfined()) {
            int total = pair.get(0).numel() + pair.get(1).numel();
            MemorySegment data = Tensors.allocate(arena, total);
            MemorySegment grads = Tensors.allocate(arena, total);
            List<Parameter> params = new ArrayList<>();
            List<MemorySegment> dataSlices = new ArrayList<>();
            List<MemorySegment> gradSlices = new ArrayList<>();
            long offset = 0;
            for (TorchTrajectory t : pair) {
                MemorySegment d = data.asSlice(offset, t.numel() * 4L);
                MemorySegment g = grads.asSlice(offset, t.numel() * 4L);
                TestTensors.set(d, t.initial());
                dataSlices.add(d);
                gradSlices.add(g);
                params.add(Parameter.wrap(d, g));
                offset += t.numel() * 4L;
            }
            TorchTrajectory first = pair.get(0);
            try (RMSProp opt = RMSProp.builder().alpha(first.alpha()).eps(first.eps()).weightDecay(first.weightDecay())
                    .momentum(first.momentum()).centered(first.centered()).maximize(first.maximize())
                    .build(List.of(params.get(0)))) {
                opt.addParamGroup(pair.get(1).group(List.of(params.get(1))));
                for (int s = 0; s < first.steps().size(); s++) {
                    for (int k = 0; k < 2; k++) {
                        feed(opt.paramGroups().get(k), params.get(k), gradSlices.get(k), pair.get(k).steps().get(s));
                    }
                    opt.step();
                    for (int k = 0; k < 2; k++) {
                        assertArrayEquals(pair.get(k).steps().get(s).after(), TestTensors.toArray(dataSlices.get(k)),
                                pair.get(k).name() + " step " + (s + 1));
                    }
                }
                StateDict sd = opt.stateDict();
                assertArrayEquals(pair.get(1).squareAvg(), sd.state().get(1).squareAvg());
                assertNull(sd.state().get(1).momentumBuffer());
                assertArrayEquals(pair.get(0).momentumBuffer(), sd.state().get(0).momentumBuffer());
            }
        }
    }
}
