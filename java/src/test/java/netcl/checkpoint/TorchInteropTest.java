package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import netcl.optim.ParamGroup;
import netcl.optim.ParamState;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;
import netcl.optim.Tensors;

/**
 * Checkpoints move between netcl and PyTorch (Debian's python3-torch, through
 * python/netcl_checkpoint.py, which reads and writes the format on its own) and training goes
 * on bit for bit: for each of the 16 combinations of momentum, centered, maximize and weight
 * decay, in two parameter groups with a parameter that has no gradient every other step and one
 * that never has one,
 * <ul>
 * <li>netcl -> PyTorch: netcl steps 3 times and saves; torch.optim.RMSprop loads the file and
 * steps 3 more times; its parameters and state equal netcl's after the same 6 steps;</li>
 * <li>PyTorch -> netcl: torch steps 3 times and saves; netcl (built with other options) loads
 * the file and steps 3 more times; its parameters and state equal torch's after 6 steps.</li>
 * </ul>
 * And mixed precision, netcl -> PyTorch: netcl trains BF16 parameters (float32 masters) with a
 * loss scaler, clipping and a skipped inf step, saves, and steps 3 more times (no clipping);
 * PyTorch takes the masters as its float32 parameters, the optimizer state and the scaler state,
 * replays those 3 steps on the same gradients unscaled, and its masters, state, bf16-rounded
 * parameters and scaler state equal netcl's.
 * All PyTorch work runs in one Python process ({@code python/checkpoint_interop.py}).
 */
class TorchInteropTest {
    private static final int[] SIZES = {17, 5, 3, 2};
    private static final int BEFORE = 3;
    private static final int AFTER = 3;

    @TempDir
    static Path dir;
    /** netcl's parameters and state after all steps, per combination (netcl -> PyTorch). */
    private static final Map<Integer, Result> netclRuns = new LinkedHashMap<>();
    /** Steps of the mixed-precision run before its checkpoint. */
    private static final int AMP_BEFORE = 7;
    /** netcl's mixed-precision run after all its steps. */
    private static AmpTrainingState.Snapshot ampRun;

    private record Result(float[][] params, StateDict state) {
    }

    /** Combination c: bit 0 momentum, bit 1 centered, bit 2 maximize, bit 3 weight decay. */
    private record Options(double lr, double alpha, double momentum, boolean centered, boolean maximize,
                           double weightDecay) {
        static Options first(int c) {
            return new Options(0.01, 0.99, (c & 1) != 0 ? 0.9 : 0, (c & 2) != 0, (c & 4) != 0,
                    (c & 8) != 0 ? 0.01 : 0);
        }

        /** The second group differs in every option. */
        static Options second(int c) {
            return new Options(0.003, 0.9, (c & 1) != 0 ? 0 : 0.5, (c & 2) == 0, (c & 4) == 0,
                    (c & 8) != 0 ? 0 : 0.02);
        }

        ParamGroup apply(ParamGroup g) {
            return g.lr(lr).alpha(alpha).eps(1e-8).momentum(momentum).centered(centered).maximize(maximize)
                    .weightDecay(weightDecay);
        }

        String json() {
            return String.format(Locale.ROOT, "{\"lr\":%s,\"alpha\":%s,\"eps\":1e-08,\"momentum\":%s,\"centered\":%s,"
                    + "\"maximize\":%s,\"weight_decay\":%s}", lr, alpha, momentum, centered, maximize, weightDecay);
        }
    }

    static IntStream combinations() {
        return IntStream.range(0, 16);
    }

    private static Path file(String kind, int c) {
        return dir.resolve(kind + "-" + c + ".safetensors");
    }

    private static float[] values(long seed, int n) {
        return TrainingState.random(seed, n);
    }

    /** Parameter i's gradient at step s, or none: parameter 1 every other step, parameter 3 never. */
    private static float[] grad(int c, int s, int i) {
        boolean none = i == 3 || (i == 1 && s % 2 == 1);
        return none ? null : values(1000L * c + 100L * s + i, SIZES[i]);
    }

    /** A netcl optimizer over params in two groups: 0, 1 and 2, 3. */
    private static RMSProp optimizer(List<Parameter> params, Options first, Options second) {
        ParamGroup g0 = first.apply(ParamGroup.of(params.subList(0, 2)));
        RMSProp opt = RMSProp.builder().lr(g0.lr()).alpha(g0.alpha()).momentum(g0.momentum()).centered(g0.centered())
                .maximize(g0.maximize()).weightDecay(g0.weightDecay()).build(params.subList(0, 2));
        opt.addParamGroup(second.apply(ParamGroup.of(params.subList(2, 4))));
        return opt;
    }

    private static void steps(int c, List<Parameter> params, List<MemorySegment> grads, RMSProp opt, int from, int to) {
        for (int s = from; s < to; s++) {
            for (int i = 0; i < SIZES.length; i++) {
                float[] g = grad(c, s, i);
                if (g != null) {
                    MemorySegment.copy(g, 0, grads.get(i), ValueLayout.JAVA_FLOAT, 0, g.length);
                }
                params.get(i).grad(g == null ? null : grads.get(i));
            }
            opt.step();
        }
    }

    private static Map<String, MemorySegment> named(List<MemorySegment> data) {
        Map<String, MemorySegment> named = new LinkedHashMap<>();
        for (int i = 0; i < data.size(); i++) {
            named.put("param." + i, data.get(i));
        }
        return named;
    }

    /** Writes the inputs, runs netcl's half of netcl -> PyTorch, then every PyTorch job in one process. */
    @BeforeAll
    static void runBothSides() throws Exception {
        List<String> jobs = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
            try (Arena arena = Arena.ofConfined()) {
                Map<String, MemorySegment> init = new LinkedHashMap<>();
                Map<String, MemorySegment> grads = new LinkedHashMap<>();
                for (int i = 0; i < SIZES.length; i++) {
                    init.put("param." + i, Tensors.of(arena, values(77L * c + i, SIZES[i])));
                    for (int s = 0; s < BEFORE + AFTER; s++) {
                        float[] g = grad(c, s, i);
                        if (g != null) {
                            grads.put("grad." + s + "." + i, Tensors.of(arena, g));
                        }
                    }
                }
                Checkpoint.save(file("init", c), null, init);
                Checkpoint.save(file("grads", c), null, grads);

                List<MemorySegment> data = new ArrayList<>();
                List<MemorySegment> g = new ArrayList<>();
                List<Parameter> params = new ArrayList<>();
                for (int i = 0; i < SIZES.length; i++) {
                    data.add(Tensors.of(arena, values(77L * c + i, SIZES[i])));
                    g.add(Tensors.allocate(arena, SIZES[i]));
                    params.add(Parameter.wrap(data.get(i), g.get(i)));
                }
                try (RMSProp opt = optimizer(params, Options.first(c), Options.second(c))) {
                    steps(c, params, g, opt, 0, BEFORE);
                    Checkpoint.save(file("netcl-checkpoint", c), opt, named(data));
                    steps(c, params, g, opt, BEFORE, BEFORE + AFTER);
                    netclRuns.put(c, new Result(data.stream().map(d -> d.toArray(ValueLayout.JAVA_FLOAT))
                            .toArray(float[][]::new), opt.stateDict()));
                }
            }
            jobs.add(String.format(Locale.ROOT, "{\"kind\":\"continue\",\"checkpoint\":\"%s\",\"grads\":\"%s\","
                    + "\"first_step\":%d,\"steps\":%d,\"out\":\"%s\"}", file("netcl-checkpoint", c), file("grads", c),
                    BEFORE, AFTER, file("torch-continued", c)));
            jobs.add(String.format(Locale.ROOT, "{\"kind\":\"train\",\"init\":\"%s\",\"grads\":\"%s\",\"groups\":"
                    + "[{\"options\":%s,\"params\":[0,1]},{\"options\":%s,\"params\":[2,3]}],\"steps_before\":%d,"
                    + "\"steps_after\":%d,\"checkpoint\":\"%s\",\"out\":\"%s\"}", file("init", c), file("grads", c),
                    Options.first(c).json(), Options.second(c).json(), BEFORE, AFTER, file("torch-checkpoint", c),
                    file("torch-final", c)));
        }
        try (Arena arena = Arena.ofConfined()) {
            Checkpoint.save(dir.resolve("java-model.safetensors"), null, Map.of(
                    "weight", Tensors.of(arena, values(5, 12)), "bias", Tensors.of(arena, values(6, 3))));
        }
        jobs.add("{\"kind\":\"model\",\"in\":\"" + dir.resolve("java-model.safetensors") + "\",\"out\":\""
                + dir.resolve("torch-model.safetensors") + "\"}");
        try (AmpTrainingState amp = new AmpTrainingState(1)) {
            amp.steps(0, AMP_BEFORE);   // clipped, the inf step 4 skipped, the scale moving
            Checkpoint.save(dir.resolve("amp-netcl.safetensors"), amp.optimizer, amp.scaler, amp.named());
            Map<String, Tensor> grads = new LinkedHashMap<>();
            Map<String, String> scales = new LinkedHashMap<>();
            amp.plainSteps(AMP_BEFORE, AMP_BEFORE + AFTER, grads, scales);
            Checkpoint.save(dir.resolve("amp-grads.safetensors"), null, grads, scales);
            ampRun = amp.snapshot();
        }
        jobs.add(String.format(Locale.ROOT, "{\"kind\":\"amp\",\"checkpoint\":\"%s\",\"grads\":\"%s\","
                + "\"first_step\":%d,\"steps\":%d,\"out\":\"%s\"}", dir.resolve("amp-netcl.safetensors"),
                dir.resolve("amp-grads.safetensors"), AMP_BEFORE, AFTER, dir.resolve("amp-torch.safetensors")));
        Path jobFile = Files.writeString(dir.resolve("jobs.json"), "[" + String.join(",\n", jobs) + "]");
        runPython(jobFile);
    }

    private static void runPython(Path jobs) throws Exception {
        String python = System.getenv().getOrDefault("NETCL_PYTHON", "/usr/bin/python3");
        Path script = Path.of(System.getProperty("netcl.root", "."), "python", "checkpoint_interop.py");
        ProcessBuilder builder = new ProcessBuilder(python, script.toString(), jobs.toString()).redirectErrorStream(true);
        builder.environment().put("PYTHONDONTWRITEBYTECODE", "1");
        Process p = builder.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "python timed out");
        assertEquals(0, p.exitValue(), python + " " + script + " failed (PyTorch is Debian's python3-torch, which "
                + "scripts/setup installs):\n" + output);
        System.out.print(output);
    }

    @ParameterizedTest(name = "combination {0}")
    @MethodSource("combinations")
    void netclToPyTorchContinuesBitForBit(int c) throws IOException {
        Result netcl = netclRuns.get(c);
        assertSameRun(file("torch-continued", c), netcl.params(), netcl.state());
    }

    @ParameterizedTest(name = "combination {0}")
    @MethodSource("combinations")
    void pyTorchToNetclContinuesBitForBit(int c) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> data = new ArrayList<>();
            List<MemorySegment> g = new ArrayList<>();
            List<Parameter> params = new ArrayList<>();
            for (int i = 0; i < SIZES.length; i++) {
                data.add(Tensors.allocate(arena, SIZES[i]));
                g.add(Tensors.allocate(arena, SIZES[i]));
                params.add(Parameter.wrap(data.get(i), g.get(i)));
            }
            // Built with PyTorch's defaults: the options come from the file.
            Options defaults = new Options(0.01, 0.99, 0, false, false, 0);
            try (RMSProp opt = optimizer(params, defaults, defaults)) {
                Checkpoint.load(file("torch-checkpoint", c), opt, named(data));
                assertEquals(Options.second(c).lr(), opt.paramGroups().get(1).lr());
                steps(c, params, g, opt, BEFORE, BEFORE + AFTER);
                assertSameRun(file("torch-final", c), data.stream().map(d -> d.toArray(ValueLayout.JAVA_FLOAT))
                        .toArray(float[][]::new), opt.stateDict());
            }
        }
    }

    /** The other side's final checkpoint holds exactly these parameters and this state. */
    private static void assertSameRun(Path other, float[][] params, StateDict state) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(other, arena);
            for (int i = 0; i < params.length; i++) {
                assertArrayEquals(params[i], floats(f, "param." + i), "param." + i);
                ParamState s = state.state().get(i);
                if (s == null) {
                    assertNull(f.tensors().get("state." + i + ".square_avg"), "parameter " + i + " has no state");
                    continue;
                }
                assertEquals(Long.toString(s.step()), f.metadata().get("state." + i + ".step"), "step " + i);
                assertArrayEquals(s.squareAvg(), floats(f, "state." + i + ".square_avg"), "square_avg " + i);
                assertArrayEquals(s.momentumBuffer(), floats(f, "state." + i + ".momentum_buffer"), "momentum_buffer " + i);
                assertArrayEquals(s.gradAvg(), floats(f, "state." + i + ".grad_avg"), "grad_avg " + i);
            }
            assertTrue(state.state().size() < params.length, "the grad-less parameter has no state");
        }
    }

    private static float[] floats(SafetensorsFile f, String name) {
        Tensor t = f.tensors().get(name);
        return t == null ? null : t.data().toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void netclMixedPrecisionToPyTorchContinuesBitForBit() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile torch = SafetensorsFile.open(dir.resolve("amp-torch.safetensors"), arena);
            for (int i = 0; i < AmpTrainingState.SIZES.length; i++) {
                assertArrayEquals(ampRun.values()[i], torch.tensors().get("layer" + i + ".weight").data()
                        .toArray(ValueLayout.JAVA_BYTE), "layer" + i + ".weight");
                ParamState s = ampRun.state().state().get(i);
                assertEquals(Long.toString(s.step()), torch.metadata().get("state." + i + ".step"), "step " + i);
                assertArrayEquals(s.squareAvg(), floats(torch, "state." + i + ".square_avg"), "square_avg " + i);
                assertArrayEquals(s.momentumBuffer(), floats(torch, "state." + i + ".momentum_buffer"), "momentum " + i);
                assertArrayEquals(s.master(), floats(torch, "state." + i + ".master"), "master " + i);
            }
            assertTrue(ampRun.state().state().get(0).master() != null, "BF16 parameters have masters");
            Map<String, String> saved = SafetensorsFile.open(dir.resolve("amp-netcl.safetensors"), arena).metadata();
            for (String key : List.of("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")) {
                assertEquals(saved.get("scaler." + key), torch.metadata().get("scaler." + key), "scaler." + key);
            }
        }
    }

    /** A model's tensors: netcl's one-dimensional ones load into nn.Linear; its state_dict comes back shaped. */
    @Test
    void modelTensorsRoundTripThroughAPyTorchModule() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(dir.resolve("torch-model.safetensors"), arena);
            assertArrayEquals(new long[] {3, 4}, f.tensors().get("weight").shape());
            assertArrayEquals(new long[] {3}, f.tensors().get("bias").shape());
            assertArrayEquals(values(5, 12), floats(f, "weight"));
            assertArrayEquals(values(6, 3), floats(f, "bias"));
        }
    }
}
