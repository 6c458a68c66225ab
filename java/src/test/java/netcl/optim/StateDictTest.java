package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** stateDict/loadStateDict: exact round trips, PyTorch's layout, and every mismatch refused. */
class StateDictTest {
    private static final int[] SIZES = {5, 4096 + 3, 1};

    /** A two-group model: tensors 0 and 1 (momentum, centered), tensor 2 (weight decay only). */
    private record Model(List<MemorySegment> data, List<MemorySegment> grads, List<Parameter> params) {
        static Model create(Arena arena) {
            List<MemorySegment> data = new java.util.ArrayList<>();
            List<MemorySegment> grads = new java.util.ArrayList<>();
            List<Parameter> params = new java.util.ArrayList<>();
            for (int i = 0; i < SIZES.length; i++) {
                data.add(TestTensors.random(arena, 100 + i, SIZES[i]));
                grads.add(Tensors.allocate(arena, SIZES[i]));
                params.add(Parameter.wrap(data.get(i), grads.get(i)));
            }
            return new Model(List.copyOf(data), List.copyOf(grads), List.copyOf(params));
        }

        RMSProp optimizer() {
            RMSProp opt = RMSProp.builder().lr(3e-3).momentum(0.9).centered(true).build(params.subList(0, 2));
            opt.addParamGroup(ParamGroup.of(params.subList(2, 3)).weightDecay(0.01).lr(1e-2).momentum(0)
                    .centered(false));
            return opt;
        }

        void steps(RMSProp opt, int from, int to) {
            for (int s = from; s < to; s++) {
                for (int i = 0; i < SIZES.length; i++) {
                    TestTensors.set(grads.get(i), TestTensors.random(1000L * s + i, SIZES[i]));
                }
                params.get(2).grad(s % 2 == 1 ? null : grads.get(2));
                opt.paramGroups().get(0).lr(3e-3 * Math.pow(0.9, s));
                opt.step();
            }
        }

        float[][] snapshot() {
            return data.stream().map(TestTensors::toArray).toArray(float[][]::new);
        }
    }

    @Test
    void roundTripIsBitIdentical() {
        try (Arena arena = Arena.ofConfined()) {
            Model whole = Model.create(arena);
            Model split = Model.create(arena);
            try (RMSProp a = whole.optimizer(); RMSProp b = split.optimizer()) {
                whole.steps(a, 0, 7);
                split.steps(b, 0, 3);
                StateDict saved = b.stateDict();
                b.close();
                try (RMSProp fresh = split.optimizer()) {
                    fresh.loadStateDict(saved);
                    split.steps(fresh, 3, 7);
                    for (int i = 0; i < SIZES.length; i++) {
                        assertArrayEquals(whole.snapshot()[i], split.snapshot()[i], "tensor " + i);
                    }
                    assertStatesEqual(a.stateDict(), fresh.stateDict());
                }
            }
        }
    }

    @Test
    void layoutFollowsPyTorch() {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena);
            try (RMSProp opt = m.optimizer()) {
                assertTrue(opt.stateDict().state().isEmpty(), "state is created lazily");
                m.steps(opt, 0, 2);
                StateDict sd = opt.stateDict();
                assertEquals(List.of(0, 1, 2), List.copyOf(sd.state().keySet()));
                assertEquals(2, sd.state().get(0).step());
                assertNotNull(sd.state().get(0).momentumBuffer());
                assertNotNull(sd.state().get(0).gradAvg());
                assertEquals(1, sd.state().get(2).step(), "no gradient on step 2");
                assertNull(sd.state().get(2).momentumBuffer());
                assertNull(sd.state().get(2).gradAvg());
                assertEquals(List.of(0, 1), sd.paramGroups().get(0).params());
                assertEquals(List.of(2), sd.paramGroups().get(1).params());
                assertEquals(0.01, sd.paramGroups().get(1).weightDecay());
                assertEquals(0.99, sd.paramGroups().get(1).alpha(), "inherited default");
            }
        }
    }

    @Test
    void loadingRestoresHyperparametersAndClearsAbsentState() {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena);
            try (RMSProp opt = m.optimizer()) {
                m.steps(opt, 0, 2);
                StateDict sd = opt.stateDict();
                Map<Integer, ParamState> state = new HashMap<>(sd.state());
                state.remove(1);
                List<StateDict.GroupState> groups = List.of(sd.paramGroups().get(0),
                        new StateDict.GroupState(0.5, 0.9, 1e-6, 0.0, 0.0, false, true, List.of(2)));
                opt.loadStateDict(new StateDict(state, groups));
                assertNull(opt.stateDict().state().get(1));
                ParamGroup second = opt.paramGroups().get(1);
                assertEquals(0.5, second.lr());
                assertTrue(second.maximize());
                opt.loadStateDict(StateDict.of(Map.of()));
                assertTrue(opt.stateDict().state().isEmpty());
                assertEquals(0.5, opt.paramGroups().get(1).lr(), "StateDict.of keeps the hyperparameters");
            }
        }
    }

    @Test
    void mismatchesAreRefusedAndChangeNothing() {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena);
            try (RMSProp opt = m.optimizer()) {
                m.steps(opt, 0, 2);
                StateDict good = opt.stateDict();
                float[] sq = good.state().get(0).squareAvg();
                expectRefused(opt, m, null, "state dict is null");
                expectRefused(opt, m, new StateDict(good.state(), good.paramGroups().subList(0, 1)),
                        "loaded state dict has 1 parameter groups, the optimizer has 2");
                StateDict.GroupState g0 = good.paramGroups().get(0);
                expectRefused(opt, m, new StateDict(good.state(), List.of(new StateDict.GroupState(g0.lr(), g0.alpha(),
                        g0.eps(), g0.weightDecay(), g0.momentum(), g0.centered(), g0.maximize(), List.of(0)),
                        good.paramGroups().get(1))), "doesn't match the size of optimizer's group");
                expectRefused(opt, m, new StateDict(good.state(), List.of(new StateDict.GroupState(-1, 0.99, 1e-8, 0, 0,
                        false, false, List.of(0, 1)), good.paramGroups().get(1))), "Invalid learning rate: -1.0");
                expectRefused(opt, m, with(good, 7, good.state().get(0)), "state for parameter 7");
                expectRefused(opt, m, with(good, 1, new ParamState(3, new float[2], null, null)),
                        "parameter 1: squareAvg has 2 values, the parameter has 4099");
                expectRefused(opt, m, with(good, 0, new ParamState(3, sq, new float[1], null)),
                        "parameter 0: momentumBuffer has 1 values");
                expectRefused(opt, m, with(good, 0, new ParamState(3, sq, null, new float[9])),
                        "parameter 0: gradAvg has 9 values");
                expectRefused(opt, m, with(good, 0, new ParamState(3, null, null, null)),
                        "parameter 0: state without squareAvg");
                expectRefused(opt, m, with(good, 0, new ParamState(-3, sq, null, null)), "negative step -3");
            }
        }
    }

    private static StateDict with(StateDict sd, int index, ParamState state) {
        Map<Integer, ParamState> map = new HashMap<>(sd.state());
        map.put(index, state);
        return new StateDict(map, sd.paramGroups());
    }

    private static void expectRefused(RMSProp opt, Model m, StateDict bad, String message) {
        StateDict before = opt.stateDict();
        float[][] params = m.snapshot();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> opt.loadStateDict(bad));
        assertTrue(e.getMessage().contains(message), e.getMessage() + " lacks " + message);
        assertStatesEqual(before, opt.stateDict());
        assertEquals(before.paramGroups(), opt.stateDict().paramGroups());
        for (int i = 0; i < params.length; i++) {
            assertArrayEquals(params[i], m.snapshot()[i]);
        }
    }

    static void assertStatesEqual(StateDict expected, StateDict actual) {
        assertEquals(expected.state().keySet(), actual.state().keySet());
        for (Integer k : expected.state().keySet()) {
            ParamState e = expected.state().get(k);
            ParamState a = actual.state().get(k);
            assertEquals(e.step(), a.step(), "step of " + k);
            assertArrayEquals(e.squareAvg(), a.squareAvg(), "square_avg of " + k);
            assertArrayEquals(e.momentumBuffer(), a.momentumBuffer(), "momentum_buffer of " + k);
            assertArrayEquals(e.gradAvg(), a.gradAvg(), "grad_avg of " + k);
        }
    }
}
