package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import netcl.optim.ParamGroup;
import netcl.optim.ParamState;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;
import netcl.optim.Tensors;

/**
 * A small training state for the checkpoint tests: three parameters in two groups (momentum and
 * centered; weight decay), the third without a gradient on odd steps, seeded gradients.
 */
final class TrainingState implements AutoCloseable {
    static final int[] SIZES = {5, 4096 + 3, 1};

    final Arena arena = Arena.ofConfined();
    final List<MemorySegment> data = new ArrayList<>();
    final List<MemorySegment> grads = new ArrayList<>();
    final List<Parameter> params = new ArrayList<>();
    final RMSProp optimizer;

    TrainingState(long seed) {
        for (int i = 0; i < SIZES.length; i++) {
            data.add(random(arena, seed + i, SIZES[i]));
            grads.add(Tensors.allocate(arena, SIZES[i]));
            params.add(Parameter.wrap(data.get(i), grads.get(i)));
        }
        optimizer = RMSProp.builder().lr(3e-3).momentum(0.9).centered(true).build(params.subList(0, 2));
        optimizer.addParamGroup(ParamGroup.of(params.subList(2, 3)).weightDecay(0.01).lr(1e-2).momentum(0)
                .centered(false));
    }

    /** Steps {@code from} .. {@code to - 1}; the gradients depend on the step number only. */
    void steps(int from, int to) {
        for (int s = from; s < to; s++) {
            for (int i = 0; i < SIZES.length; i++) {
                MemorySegment.copy(random(1000L * s + i, SIZES[i]), 0, grads.get(i), ValueLayout.JAVA_FLOAT, 0,
                        SIZES[i]);
            }
            params.get(2).grad(s % 2 == 1 ? null : grads.get(2));
            optimizer.paramGroups().get(0).lr(3e-3 * Math.pow(0.9, s));
            optimizer.step();
        }
    }

    /** The model's tensors by name, as a user would save them. */
    Map<String, MemorySegment> named() {
        Map<String, MemorySegment> named = new LinkedHashMap<>();
        for (int i = 0; i < data.size(); i++) {
            named.put("layer" + i + ".weight", data.get(i));
        }
        return named;
    }

    float[][] values() {
        return data.stream().map(d -> d.toArray(ValueLayout.JAVA_FLOAT)).toArray(float[][]::new);
    }

    /** Everything loading could change, for "nothing changed" checks: state, options, values. */
    Snapshot snapshot() {
        return new Snapshot(optimizer.stateDict(), values());
    }

    record Snapshot(StateDict state, float[][] values) {
        void assertSameAs(Snapshot other) {
            StateDicts.assertBitIdentical(state, other.state);
            for (int i = 0; i < values.length; i++) {
                assertArrayEquals(values[i], other.values[i], "tensor " + i);
            }
        }
    }

    static float[] random(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return out;
    }

    static MemorySegment random(Arena arena, long seed, int n) {
        return Tensors.of(arena, random(seed, n));
    }

    @Override
    public void close() {
        optimizer.close();
        arena.close();
    }

    /** Comparisons of state dicts, bit for bit (floatToIntBits: NaNs compare equal). */
    static final class StateDicts {
        private StateDicts() {
        }

        static void assertBitIdentical(StateDict expected, StateDict actual) {
            assertEquals(expected.state().keySet(), actual.state().keySet(), "state keys");
            for (Map.Entry<Integer, ParamState> e : expected.state().entrySet()) {
                ParamState a = actual.state().get(e.getKey());
                ParamState x = e.getValue();
                String p = "parameter " + e.getKey() + ": ";
                assertEquals(x.step(), a.step(), p + "step");
                assertArrayEquals(x.squareAvg(), a.squareAvg(), p + "square_avg");
                assertArrayEquals(x.momentumBuffer(), a.momentumBuffer(), p + "momentum_buffer");
                assertArrayEquals(x.gradAvg(), a.gradAvg(), p + "grad_avg");
                assertArrayEquals(x.master(), a.master(), p + "master");
            }
            assertEquals(expected.paramGroups(), actual.paramGroups(), "param_groups");
        }
    }
}
