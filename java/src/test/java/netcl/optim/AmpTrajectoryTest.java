package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Mixed-precision trajectories of PyTorch 1.13 (scripts/generate-amp-trajectories: loss scaling
 * with injected inf/NaN gradients, L2 and inf-norm clipping, BF16/FP16 parameters with float32
 * masters) replayed through the public API: {@link GradScaler}, {@link RMSProp#clipGradNorm},
 * {@link Parameter#wrap(MemorySegment, MemorySegment, DType)}. The norm, every master and
 * parameter after every step, the scale and the final state must have the recorded bits (a NaN
 * may be any NaN). Clipped cases unscale explicitly, the others let {@link GradScaler#step} fuse it.
 * The FP32 trajectories run a third time with device-resident parameters
 * ({@link Parameter#wrap(DeviceTensor, DeviceTensor)}): the statistics then come from the device
 * kernel, whose sum of squares adds the same double terms in another order; the recorded norms,
 * rounded to float32, come out the same, and so every bit after them.
 */
class AmpTrajectoryTest {
    private static final DType[] TYPES = {DType.FP32, DType.BF16, DType.FP16};

    static Path directory() {
        return Path.of(System.getProperty("netcl.root", "."), "native", "tests", "data", "amp");
    }

    static List<Arguments> trajectories() throws IOException {
        List<Arguments> cases = new ArrayList<>();
        for (String name : Files.readAllLines(directory().resolve("index.txt"))) {
            if (!name.isBlank()) {
                for (StepPath path : List.of(StepPath.HOST, StepPath.KERNEL)) {
                    cases.add(Arguments.of(name, path, false));
                }
                if (fp32Only(name)) {
                    cases.add(Arguments.of(name, StepPath.KERNEL, true));
                }
            }
        }
        return cases;
    }

    /** Whether every tensor of a trajectory is FP32, as device buffers hold (see the file format). */
    private static boolean fp32Only(String name) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(directory().resolve(name))).order(ByteOrder.LITTLE_ENDIAN);
        in.position(12);
        int groupCount = in.getInt(), count = in.getInt();
        in.position(in.position() + 4 + 8 + 3 * 8 + 4 + groupCount * (5 * 8 + 2 * 4));
        for (int i = 0; i < count; i++) {
            in.getInt();
            if (in.getInt() != 0) {
                return false;
            }
            in.getInt();
        }
        return true;
    }

    @ParameterizedTest(name = "{0} {1} device-resident {2}")
    @MethodSource("trajectories")
    void replaysBitForBit(String name, StepPath path, boolean deviceResident) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(directory().resolve(name))).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[4];
        in.get(magic);
        assertEquals("NCAM", new String(magic, StandardCharsets.US_ASCII));
        assertEquals(1, in.getInt());
        int steps = in.getInt(), groupCount = in.getInt(), count = in.getInt(), clip = in.getInt();
        double maxNorm = in.getDouble();
        GradScaler scaler = GradScaler.builder().initScale(in.getDouble()).growthFactor(in.getDouble())
                .backoffFactor(in.getDouble()).growthInterval(in.getInt()).build();
        double[][] hyper = new double[groupCount][];
        for (int g = 0; g < groupCount; g++) {
            hyper[g] = new double[] {in.getDouble(), in.getDouble(), in.getDouble(), in.getDouble(), in.getDouble(),
                in.getInt(), in.getInt()};
        }
        int[] group = new int[count];
        DType[] type = new DType[count];
        int[] numel = new int[count];
        for (int i = 0; i < count; i++) {
            group[i] = in.getInt();
            type[i] = TYPES[in.getInt()];
            numel[i] = in.getInt();
        }
        try (Arena arena = Arena.ofConfined(); DeviceContext context = deviceResident ? DeviceContext.create() : null) {
            MemorySegment[] data = new MemorySegment[count];
            MemorySegment[] grad = new MemorySegment[count];
            // Device-resident: the parameters' and gradients' device twins, copied to and from data and grad.
            DeviceTensor[] deviceData = new DeviceTensor[count];
            DeviceTensor[] deviceGrad = new DeviceTensor[count];
            List<List<Parameter>> byGroup = new ArrayList<>();
            for (int g = 0; g < groupCount; g++) {
                byGroup.add(new ArrayList<>());
            }
            for (int i = 0; i < count; i++) {
                data[i] = Tensors.allocate(arena, numel[i], type[i]);
                grad[i] = Tensors.allocate(arena, numel[i], type[i]);
                read(in, data[i]);
                if (deviceResident) {
                    deviceData[i] = DeviceTensor.allocate(context, numel[i]);
                    deviceGrad[i] = DeviceTensor.allocate(context, numel[i]);
                    deviceData[i].copyFrom(data[i]);
                }
                byGroup.get(group[i]).add(deviceResident ? Parameter.wrap(deviceData[i], deviceGrad[i])
                        : Parameter.wrap(data[i], grad[i], type[i]));
            }
            RMSProp.Builder builder = RMSProp.builder().path(path);
            if (deviceResident) {
                builder.context(context);
            }
            options(builder, hyper[0]);
            try (RMSProp opt = builder.build(byGroup.get(0))) {
                for (int g = 1; g < groupCount; g++) {
                    ParamGroup extra = ParamGroup.of(byGroup.get(g));
                    opt.addParamGroup(extra.lr(hyper[g][0]).alpha(hyper[g][1]).eps(hyper[g][2]).weightDecay(hyper[g][3])
                            .momentum(hyper[g][4]).centered(hyper[g][5] != 0).maximize(hyper[g][6] != 0));
                }
                for (int s = 0; s < steps; s++) {
                    String at = name + " step " + (s + 1);
                    assertEquals(in.getFloat(), (float) scaler.getScale(), at + ": scale");
                    in.getFloat();  // the inverse scale, which the scaler computes itself
                    for (int i = 0; i < count; i++) {
                        read(in, grad[i]);
                        if (deviceResident) {
                            deviceGrad[i].copyFrom(grad[i]);
                        }
                    }
                    boolean foundInf = in.getInt() != 0;
                    if (clip != 0) {
                        scaler.unscale(opt);
                        double norm = opt.clipGradNorm(maxNorm, clip == 1 ? 2.0 : Double.POSITIVE_INFINITY);
                        in.getFloat();  // PyTorch's own float32 norm: its summation order is its own
                        in.getDouble();
                        assertSameFloat(in.getFloat(), (float) norm, at + ": norm");
                        in.getFloat();  // the clip coefficient, checked through the parameters
                    }
                    assertEquals(!foundInf, scaler.step(opt), at + ": stepped");
                    for (int i = 0; i < count && deviceResident; i++) {
                        deviceData[i].copyTo(data[i]);
                    }
                    StateDict sd = opt.stateDict();
                    for (int i = 0; i < count; i++) {
                        ParamState st = sd.state().get(i);
                        float[] master = type[i] == DType.FP32 ? TestTensors.toArray(data[i])
                                : st == null ? null : st.master();
                        for (int k = 0; k < numel[i]; k++) {
                            float expected = in.getFloat();
                            if (master != null) {
                                assertSameFloat(expected, master[k], at + ": tensor " + i + " master " + k);
                            }
                        }
                        if (type[i] != DType.FP32) {
                            for (int k = 0; k < numel[i]; k++) {
                                short expected = in.getShort();
                                short actual = data[i].getAtIndex(ValueLayout.JAVA_SHORT, k);
                                assertTrue(expected == actual || (isNaN(expected, type[i]) && isNaN(actual, type[i])),
                                        at + ": tensor " + i + " element " + k);
                            }
                        }
                    }
                    scaler.update();
                    assertEquals(in.getFloat(), (float) scaler.getScale(), at + ": scale after update");
                    assertEquals(in.getInt(), scaler.stateDict().get("_growth_tracker"), at + ": growth tracker");
                }
                StateDict sd = opt.stateDict();
                for (int i = 0; i < count; i++) {
                    ParamState st = sd.state().get(i);
                    assertEquals(in.getLong(), st.step(), name + ": tensor " + i + " step");
                    assertFloats(in, st.squareAvg(), name + ": square_avg " + i);
                    if (hyper[group[i]][4] > 0) {
                        assertFloats(in, st.momentumBuffer(), name + ": momentum_buffer " + i);
                    }
                    if (hyper[group[i]][5] != 0) {
                        assertFloats(in, st.gradAvg(), name + ": grad_avg " + i);
                    }
                }
                assertEquals(0, in.remaining(), name + ": trailing bytes");
            } finally {
                for (int i = 0; i < count && deviceResident; i++) {
                    deviceData[i].close();
                    deviceGrad[i].close();
                }
            }
        }
    }

    private static void options(RMSProp.Builder b, double[] h) {
        b.lr(h[0]).alpha(h[1]).eps(h[2]).weightDecay(h[3]).momentum(h[4]).centered(h[5] != 0).maximize(h[6] != 0);
    }

    private static void read(ByteBuffer in, MemorySegment into) {
        byte[] bytes = new byte[(int) into.byteSize()];
        in.get(bytes);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, into, 0, bytes.length);
    }

    private static void assertFloats(ByteBuffer in, float[] actual, String what) {
        for (int k = 0; k < actual.length; k++) {
            assertSameFloat(in.getFloat(), actual[k], what + " element " + k);
        }
    }

    /** Bits equal, or both NaN: PyTorch and netcl may give NaNs different signs (see test_torch.c). */
    private static void assertSameFloat(float expected, float actual, String what) {
        assertTrue(Float.floatToRawIntBits(expected) == Float.floatToRawIntBits(actual)
                || (Float.isNaN(expected) && Float.isNaN(actual)), what + ": expected " + expected + ", got " + actual);
    }

    private static boolean isNaN(short bits, DType type) {
        int exponent = type == DType.BF16 ? 0x7F80 : 0x7C00;
        int mantissa = type == DType.BF16 ? 0x007F : 0x03FF;
        return (bits & exponent) == exponent && (bits & mantissa) != 0;
    }
}
