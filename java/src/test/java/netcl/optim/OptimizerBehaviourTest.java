package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;

/** step(closure), zeroGrad, live groups, inherited options and devices. */
class OptimizerBehaviourTest {

    @Test
    void closureRunsOnceBeforeTheStepAndItsLossIsReturned() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = TestTensors.random(arena, 1, 8);
            MemorySegment grad = Tensors.allocate(arena, 8);
            try (RMSProp opt = RMSProp.builder().build(List.of(Parameter.wrap(data, grad)))) {
                int[] calls = {0};
                float[] before = TestTensors.toArray(data);
                double loss = opt.step(() -> {
                    calls[0]++;
                    TestTensors.set(grad, TestTensors.random(2, 8));  // the closure computes gradients
                    return 4.25;
                });
                assertEquals(4.25, loss);
                assertEquals(1, calls[0]);
                assertNotEquals(before[0], TestTensors.toArray(data)[0]);
            }
        }
    }

    @Test
    void zeroGradFillsOrClears() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = TestTensors.random(arena, 1, 8);
            MemorySegment grad = TestTensors.random(arena, 2, 8);
            Parameter p = Parameter.wrap(data, grad);
            try (RMSProp opt = RMSProp.builder().build(List.of(p))) {
                opt.zeroGrad();
                assertArrayEquals(new float[8], TestTensors.toArray(grad));
                opt.zeroGrad(true);
                assertNull(p.grad());
                float[] before = TestTensors.toArray(data);
                opt.step();  // no gradient: skipped, no state
                assertArrayEquals(before, TestTensors.toArray(data));
                assertTrue(opt.stateDict().state().isEmpty());
            }
        }
    }

    @Test
    void groupsInheritUnsetOptionsAndStayLive() {
        try (Arena arena = Arena.ofConfined()) {
            Parameter a = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            Parameter b = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            try (RMSProp opt = RMSProp.builder().lr(1e-3).alpha(0.9).momentum(0.5).build(List.of(a))) {
                opt.addParamGroup(ParamGroup.of(List.of(b)).lr(1e-4).centered(true));
                ParamGroup g0 = opt.paramGroups().get(0);
                ParamGroup g1 = opt.paramGroups().get(1);
                assertEquals(1e-3, g0.lr());
                assertEquals(1e-4, g1.lr());
                assertEquals(0.9, g1.alpha());
                assertEquals(0.5, g1.momentum());
                assertEquals(1e-8, g1.eps());
                assertTrue(g1.centered());
                g0.lr(5e-4);
                assertEquals(5e-4, opt.stateDict().paramGroups().get(0).lr());
            }
        }
    }

    /**
     * A step writes a group's options only when they changed since the step before: every change
     * (a setter, a loaded state dict) still takes effect at the next step. lr 0 leaves the
     * parameter exactly as it was; maximize moves it the other way.
     */
    @Test
    void optionChangesBetweenStepsTakeEffectAtTheNextStep() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = TestTensors.random(arena, 1, 8);
            try (RMSProp opt = RMSProp.builder().lr(1e-2).build(List.of(Parameter.wrap(w,
                    TestTensors.random(arena, 2, 8))))) {
                ParamGroup group = opt.paramGroups().get(0);
                float[] before = TestTensors.toArray(w);
                opt.step();
                opt.step();  // unchanged options: not written again
                float[] moved = TestTensors.toArray(w);
                assertNotEquals(before[0], moved[0]);
                group.lr(0);
                opt.step();
                assertArrayEquals(moved, TestTensors.toArray(w), "lr 0 set between steps");
                group.lr(1e-2).maximize(true);
                opt.step();
                float[] maximized = TestTensors.toArray(w);
                assertTrue(Math.signum(maximized[0] - moved[0]) == -Math.signum(moved[0] - before[0]),
                        "maximize set between steps");
                StateDict saved = opt.stateDict();
                StateDict.GroupState gs = saved.paramGroups().get(0);
                opt.loadStateDict(new StateDict(saved.state(), List.of(new StateDict.GroupState(0, gs.alpha(),
                        gs.eps(), gs.weightDecay(), gs.momentum(), gs.centered(), gs.maximize(), gs.params()))));
                opt.step();
                assertArrayEquals(maximized, TestTensors.toArray(w), "lr 0 loaded between steps");
            }
        }
    }

    @Test
    void devicesAreListedAndSelectable() {
        List<Device> devices = Device.list();
        assertTrue(!devices.isEmpty());
        try (Arena arena = Arena.ofConfined()) {
            Parameter p = Parameter.wrap(Tensors.allocate(arena, 4), Tensors.allocate(arena, 4));
            for (Device d : devices) {
                try (RMSProp byIndex = RMSProp.builder().device(Integer.toString(d.index())).build(List.of(p));
                     RMSProp byName = RMSProp.builder().device(d.name().substring(0, Math.min(5, d.name().length())).toUpperCase()).build(List.of(p))) {
                    assertEquals(d, byIndex.device());
                    assertEquals(d.name(), byName.device().name());
                }
            }
        }
    }
}
