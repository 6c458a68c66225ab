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
