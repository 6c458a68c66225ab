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

import netcl.optim.DType;
import netcl.optim.GradScaler;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;
import netcl.optim.Tensors;

/**
 * A small mixed-precision training state for the checkpoint tests: two BF16 parameters (netcl
 * keeps their float32 masters) and one FP32 parameter of the first one's size, a GradScaler that
 * grows every 3 clean steps, gradients of the scaled loss rounded to BF16, an inf gradient on
 * every 5th step (skipped, the scale backs off), and clipping to a norm of 1.
 */
final class AmpTrainingState implements AutoCloseable {
    static final int[] SIZES = {5, 4096 + 3, 5};
    static final DType[] TYPES = {DType.BF16, DType.BF16, DType.FP32};
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT;

    final Arena arena = Arena.ofConfined();
    final List<MemorySegment> data = new ArrayList<>();
    final List<MemorySegment> grads = new ArrayList<>();
    final RMSProp optimizer;
    final GradScaler scaler;
    int skipped;

    AmpTrainingState(long seed) {
        List<Parameter> params = new ArrayList<>();
        for (int i = 0; i < SIZES.length; i++) {
            data.add(Tensors.allocate(arena, SIZES[i], TYPES[i]));
            grads.add(Tensors.allocate(arena, SIZES[i], TYPES[i]));
            set(i, data.get(i), TrainingState.random(seed + i, SIZES[i]), 1);
            params.add(Parameter.wrap(data.get(i), grads.get(i), TYPES[i]));
        }
        optimizer = RMSProp.builder().lr(1e-2).momentum(0.9).build(params);
        scaler = GradScaler.builder().initScale(1024).growthInterval(3).build();
    }

    private void set(int i, MemorySegment target, float[] values, double scale) {
        for (int k = 0; k < values.length; k++) {
            float v = (float) (values[k] * scale);
            if (TYPES[i] == DType.BF16) {
                target.setAtIndex(BF16, k, bf16(v));
            } else {
                target.setAtIndex(ValueLayout.JAVA_FLOAT, k, v);
            }
        }
    }

    /** float32 to bfloat16, to nearest even (no NaNs here). */
    static short bf16(float value) {
        int bits = Float.floatToIntBits(value);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Steps {@code from} .. {@code to - 1}; the gradients depend on the step number only. */
    void steps(int from, int to) {
        for (int s = from; s < to; s++) {
            for (int i = 0; i < SIZES.length; i++) {
                set(i, grads.get(i), TrainingState.random(1000L * s + i, SIZES[i]), scaler.getScale());
            }
            if (s % 5 == 4) {
                grads.get(1).setAtIndex(BF16, 7, bf16(Float.POSITIVE_INFINITY));
            }
            scaler.unscale(optimizer);
            optimizer.clipGradNorm(1.0);
            skipped += scaler.step(optimizer) ? 0 : 1;
            scaler.update();
        }
    }

    /**
     * Steps {@code from} .. {@code to - 1} with the scaler but without clipping or inf gradients,
     * and records each step's gradients ({@code grad.<s>.<i>}, of the parameters' types) and the
     * scale in them ({@code scale.<s>}), for another implementation to replay.
     */
    void plainSteps(int from, int to, Map<String, Tensor> gradients, Map<String, String> scales) {
        for (int s = from; s < to; s++) {
            scales.put("scale." + s, Double.toString(scaler.getScale()));
            for (int i = 0; i < SIZES.length; i++) {
                set(i, grads.get(i), TrainingState.random(1000L * s + i, SIZES[i]), scaler.getScale());
                MemorySegment copy = arena.allocate(grads.get(i).byteSize(), Float.BYTES).copyFrom(grads.get(i));
                gradients.put("grad." + s + "." + i, new Tensor(elementType(i), new long[] {SIZES[i]}, copy));
            }
            scaler.unscale(optimizer);
            scaler.step(optimizer);
            scaler.update();
        }
    }

    /** The model's tensors by name and type, as a user would save them. */
    Map<String, Tensor> named() {
        Map<String, Tensor> named = new LinkedHashMap<>();
        for (int i = 0; i < data.size(); i++) {
            named.put("layer" + i + ".weight", new Tensor(elementType(i), new long[] {SIZES[i]}, data.get(i)));
        }
        return named;
    }

    private static ElementType elementType(int i) {
        return TYPES[i] == DType.BF16 ? ElementType.BF16 : ElementType.F32;
    }

    /** Every parameter's bytes. */
    byte[][] values() {
        return data.stream().map(d -> d.toArray(ValueLayout.JAVA_BYTE)).toArray(byte[][]::new);
    }

    /** Everything loading could change: the optimizer's state (masters included), the scaler's, the tensors. */
    Snapshot snapshot() {
        return new Snapshot(optimizer.stateDict(), scaler.stateDict(), values());
    }

    record Snapshot(StateDict state, Map<String, Object> scaler, byte[][] values) {
        void assertSameAs(Snapshot other) {
            TrainingState.StateDicts.assertBitIdentical(state, other.state);
            assertEquals(scaler, other.scaler, "scaler state");
            for (int i = 0; i < values.length; i++) {
                assertArrayEquals(values[i], other.values[i], "tensor " + i);
            }
        }
    }

    @Override
    public void close() {
        optimizer.close();
        arena.close();
    }
}
